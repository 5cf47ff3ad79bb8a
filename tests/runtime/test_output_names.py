"""The naming rule for outputs (edgeseg.runtime.media): the input's whole name, made unique within a run."""

from __future__ import annotations

from edgeseg.runtime.media import UniqueNames, output_base


def test_the_base_is_the_whole_file_name_without_folders():
    assert output_base("photo.bmp") == "photo.bmp"
    assert output_base("a/b/x.jpg") == "x.jpg"
    assert output_base("000042") == "000042"  # a stream's frame
    assert output_base("../../etc/passwd") == "passwd"  # never outside the output folder
    assert output_base("") == output_base(".") == "frame"


def test_one_stem_in_three_suffixes_gives_three_names():
    names = UniqueNames()
    inputs = ("photo.bmp", "photo.tif", "photo.webp")
    assert [names.claim(n) for n in inputs] == list(inputs)


def test_a_repeated_name_gets_a_counter_in_claim_order():
    names = UniqueNames()
    claimed = [names.claim(n) for n in ("a/x.jpg", "b/x.jpg", "c/x.jpg", "y.jpg", "d/x.jpg")]
    assert claimed == ["x.jpg", "x.jpg~2", "x.jpg~3", "y.jpg", "x.jpg~4"]
    again = UniqueNames()
    assert [again.claim(n) for n in ("a/x.jpg", "b/x.jpg", "c/x.jpg", "y.jpg", "d/x.jpg")] == claimed  # stable


def test_a_counter_never_takes_a_name_an_input_has():
    names = UniqueNames()
    assert names.claim("x.jpg~2") == "x.jpg~2"  # an input really named so
    assert names.claim("x.jpg") == "x.jpg"
    assert names.claim("x.jpg") == "x.jpg~3"
    assert names.claim("x.jpg~3") == "x.jpg~3~2"


def test_names_differing_only_in_case_are_kept_apart():
    # macOS and Windows file systems compare names without case: Photo.JPG and photo.jpg would be one file there.
    names = UniqueNames()
    claimed = [names.claim(n) for n in ("Photo.JPG", "photo.jpg", "PHOTO.jpg")]
    assert claimed == ["Photo.JPG", "photo.jpg~2", "PHOTO.jpg~3"]


def test_many_repeats_stay_fast():
    names = UniqueNames()
    claimed = [names.claim("x.jpg") for _ in range(20000)]  # quadratic probing would take seconds
    assert len(set(claimed)) == 20000 and claimed[-1] == "x.jpg~20000"
