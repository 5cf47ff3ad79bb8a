"""The committed results a reader can trust: every study is in benchmarks/results/README.md (an archived one in its
Archive section), every link there leads to a file, and no report names a folder of the machine that ran it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
INDEX = RESULTS / "README.md"
ARCHIVE_HEADING = "## Archive"
# Folders of a machine: its temporary folder, the folders these benchmarks ran in, home folders, a sibling of the
# checkout, a Windows drive.
MACHINE_FOLDERS = ("/tmp/", "/work/", "/root/", "/home/", "../runs", "C:\\")


def committed_files() -> list[Path]:
    """What is or can be committed under benchmarks/results/: git's files, without what .gitignore leaves out
    (a bench run's models/ and video); every file where git cannot say."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", str(RESULTS)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if listed.returncode == 0 and listed.stdout.strip():
        return sorted({REPO / line for line in listed.stdout.splitlines() if (REPO / line).is_file()})
    return sorted(p for p in RESULTS.rglob("*") if p.is_file())


def links(text: str) -> list[Path]:
    """The files a Markdown text links to, relative to the index (anchors and web addresses left out)."""
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if "://" not in target and not target.startswith("#"):
            found.append((RESULTS / target.split("#")[0]).resolve())
    return found


def uncovered(files: list[Path], linked: list[Path]) -> list[str]:
    """Files neither linked nor beside a linked report: a report (.md) must be linked itself; its JSON and charts
    are covered by a linked report of the same name in their folder, or by their folder's linked report.md."""
    reports = {p for p in linked if p.suffix == ".md"}
    missing = []
    for path in files:
        covered = path.resolve() in linked or (
            path.suffix != ".md"
            and any(r.parent == path.parent.resolve() and r.stem in (path.stem, "report") for r in reports)
        )
        if not covered:
            missing.append(path.relative_to(RESULTS).as_posix())
    return missing


def test_every_study_is_linked_from_the_index_and_every_archived_one_from_its_archive_section():
    text = INDEX.read_text()
    assert text.count(ARCHIVE_HEADING + "\n") == 1, f"the index needs one '{ARCHIVE_HEADING}' section"
    current_text, archive_text = text.split(ARCHIVE_HEADING + "\n")
    files = [p for p in committed_files() if p != INDEX]
    archive = RESULTS / "archive"
    current = [p for p in files if archive not in p.parents]
    archived = [p for p in files if archive in p.parents]
    assert current and archived
    missing = uncovered(current, links(current_text))
    assert not missing, f"studies not linked from benchmarks/results/README.md (add a line each): {missing}"
    missing = uncovered(archived, links(archive_text))
    assert not missing, f"archived studies not linked from the index's Archive section: {missing}"


def test_every_link_in_the_index_leads_to_a_file_and_archive_links_stay_in_the_archive():
    text = INDEX.read_text()
    broken = [p for p in links(text) if not p.is_file()]
    assert not broken, f"the index links to files that do not exist: {broken}"
    current_text = text.split(ARCHIVE_HEADING + "\n")[0]
    misplaced = [p for p in links(current_text) if RESULTS / "archive" in p.parents]
    assert not misplaced, f"archived studies listed above the Archive section: {misplaced}"


def test_uncovered_finds_a_study_left_out():
    report, data, chart = RESULTS / "new_study.md", RESULTS / "new_study.json", RESULTS / "folder" / "chart.png"
    assert uncovered([report, data], []) == ["new_study.md", "new_study.json"]
    assert uncovered([report, data], [report.resolve()]) == []
    assert uncovered([chart], [(RESULTS / "folder" / "report.md").resolve()]) == []
    assert uncovered([chart, RESULTS / "folder" / "other.md"], [(RESULTS / "folder" / "report.md").resolve()]) == [
        "folder/other.md"
    ]


def machine_folders(path: Path, root: Path = RESULTS) -> list[str]:
    """'file:line: text' for each line of `path` (named relative to `root`) that names a folder of a machine."""
    found = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if any(folder in line for folder in MACHINE_FOLDERS):
            found.append(f"{path.relative_to(root).as_posix()}:{number}: {line.strip()[:200]}")
    return found


def test_no_committed_report_names_a_folder_of_the_machine_that_ran_it():
    reports = [p for p in committed_files() if p.suffix in (".md", ".json")]
    assert len(reports) > 20
    found = [line for path in reports for line in machine_folders(path)]
    assert not found, "name paths relative to the repository or as placeholders (<tmp>/model.pt, <data>):\n" + (
        "\n".join(found)
    )


def test_machine_folders_are_found_with_their_file_and_line(tmp_path):
    report = tmp_path / "study.md"
    report.write_text("# study\n\n`runs/x/data` and `<tmp>/model.pt`\nerror: /tmp/edgeseg-case-1/model.pt\n")
    assert machine_folders(report, tmp_path) == ["study.md:4: error: /tmp/edgeseg-case-1/model.pt"]
    report.write_text('{"checkpoint": "C:\\\\Users\\\\me\\\\best.pt", "data": "../runs/data"}\n')
    assert len(machine_folders(report, tmp_path)) == 1
