"""`--pretrained-backbone imagenet` without torchvision: download, hash check, cache, mirror, offline reuse.

A real HTTP server on 127.0.0.1 stands in for download.pytorch.org (no test reaches the internet). It serves
a torchvision-named MobileNetV2 state dict under a file name that carries that file's own sha256 prefix, as
torchvision's names do; the table of published names is pointed at it for the test.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest
import torch

from edgeseg.models import build_model
from edgeseg.models.backbones import VGG16, MobileNetV2, ResNet50, imagenet, load_backbone_weights
from edgeseg.models.backbones.imagenet import IMAGENET_FILES, WeightsDownloadError, imagenet_file, weights_url
from tests.models.test_backbone_weights import torchvision_state_dict


class _Server:
    """A static file server on 127.0.0.1 that counts the requests it answers."""

    def __init__(self, directory: Path) -> None:
        self.paths: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self):
                server.paths.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mirror/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty torch hub cache under tmp_path, and no proxy between the test and 127.0.0.1."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def server(env):
    served = env / "served"
    (served / "mirror").mkdir(parents=True)
    httpd = _Server(served)
    yield httpd, served / "mirror"
    httpd.stop()


def _publish(folder: Path, monkeypatch, content: bytes | None = None) -> tuple[str, dict[str, torch.Tensor]]:
    """Write a torchvision-named mobilenet_v2 state dict as mobilenet_v2-<its sha256 prefix>.pth into the
    served folder, and point the table of published files at that name. `content` replaces the served
    bytes (same name: a corrupt or tampered mirror)."""
    state = torchvision_state_dict("mobilenet_v2", seed=5)
    scratch = folder.parent / "scratch.pth"
    torch.save(state, scratch)
    good = scratch.read_bytes()
    name = f"mobilenet_v2-{hashlib.sha256(good).hexdigest()[:8]}.pth"
    (folder / name).write_bytes(good if content is None else content)
    monkeypatch.setitem(IMAGENET_FILES, "mobilenet_v2", name)
    return name, state


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cache(env: Path) -> Path:
    return env / "torch_home" / "hub" / "checkpoints"


def test_good_file_is_downloaded_cached_and_reused_offline(server, env, monkeypatch):
    httpd, folder = server
    name, state = _publish(folder, monkeypatch)
    monkeypatch.setenv("EDGESEG_WEIGHTS_URL", httpd.url)

    model = build_model("deeplabv3plus_mobilenetv2", num_classes=3, pretrained_backbone="imagenet")
    assert torch.equal(model.backbone.features[0][0].weight, state["features.0.0.weight"])
    assert httpd.paths == [f"/mirror/{name}"]
    assert sorted(p.name for p in _cache(env).iterdir()) == [name]

    httpd.stop()  # offline from here on: the cached file is enough
    monkeypatch.setenv("EDGESEG_WEIGHTS_URL", f"http://127.0.0.1:{_closed_port()}/")
    backbone = MobileNetV2()
    load_backbone_weights(backbone, "imagenet")
    assert torch.equal(backbone.features[17].conv[2].weight, state["features.17.conv.2.weight"])


def test_corrupt_file_is_refused_and_deleted(server, env, monkeypatch):
    httpd, folder = server
    name, _ = _publish(folder, monkeypatch, content=b"PK\x03\x04 not the published weights" * 1000)
    monkeypatch.setenv("EDGESEG_WEIGHTS_URL", httpd.url)
    with pytest.raises(WeightsDownloadError) as info:
        load_backbone_weights(MobileNetV2(), "imagenet")
    message = str(info.value)
    assert f"{httpd.url}{name} is not the expected file" in message
    assert f"sha256 does not start with {name[13:21]}" in message
    assert "the download was deleted" in message and "\n" not in message
    assert list(_cache(env).iterdir()) == []  # neither the file nor torch.hub's .partial temporary remains


def test_missing_file_names_the_url_and_the_way_out(server, env, monkeypatch):
    httpd, _ = server
    monkeypatch.setenv("EDGESEG_WEIGHTS_URL", httpd.url.rstrip("/"))  # with or without the trailing slash
    with pytest.raises(WeightsDownloadError) as info:
        imagenet_file("resnet50")
    message = str(info.value)
    assert f"cannot download {httpd.url}resnet50-11ad3fa6.pth (HTTPError: HTTP Error 404" in message
    assert "--pretrained-backbone" in message and str(_cache(env)) in message
    assert httpd.paths == ["/mirror/resnet50-11ad3fa6.pth"]
    assert list(_cache(env).iterdir()) == []


def test_no_server_names_the_url(env, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/models/"
    monkeypatch.setenv("EDGESEG_WEIGHTS_URL", url)
    with pytest.raises(WeightsDownloadError, match=r"cannot download .*vgg16-397923af\.pth \(URLError") as info:
        load_backbone_weights(VGG16(), "imagenet")
    assert f"{url}vgg16-397923af.pth" in str(info.value)


def test_a_folder_mirror_works_as_a_file_url(env, monkeypatch):
    """A share mounted on a firewalled machine: EDGESEG_WEIGHTS_URL=file:///mnt/weights/ (same checks)."""
    folder = env / "share"
    folder.mkdir()
    name, state = _publish(folder, monkeypatch)
    monkeypatch.setenv("EDGESEG_WEIGHTS_URL", folder.as_uri())
    path = imagenet_file("mobilenet_v2")
    assert path == _cache(env) / name and torch.equal(
        torch.load(path)["features.0.0.weight"], state["features.0.0.weight"]
    )
    (folder / name).write_bytes(b"tampered")
    path.unlink()
    with pytest.raises(WeightsDownloadError, match="the download was deleted"):
        imagenet_file("mobilenet_v2")
    assert list(_cache(env).iterdir()) == []


def test_default_source_is_download_pytorch_org(monkeypatch):
    monkeypatch.delenv("EDGESEG_WEIGHTS_URL", raising=False)
    assert weights_url("vgg16-397923af.pth") == "https://download.pytorch.org/models/vgg16-397923af.pth"


@pytest.mark.parametrize("backbone", [MobileNetV2, VGG16, ResNet50])
def test_every_backbone_has_a_published_file(backbone):
    name = IMAGENET_FILES[backbone.torchvision_name]
    assert name.startswith(backbone.torchvision_name + "-")
    assert len(imagenet._hash_prefix(name)) == 8


def test_unknown_architecture():
    with pytest.raises(WeightsDownloadError, match="no ImageNet weights known for alexnet"):
        imagenet_file("alexnet")


def test_cli_uses_the_cached_file_offline_and_names_the_failed_url(run_edgeseg, tiny_dataset, tmp_path, monkeypatch):
    """The published name in the cache is used without network; with an empty cache and no server, the
    command fails in one line naming the URL."""
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(torchvision_state_dict("mobilenet_v2"), cache / IMAGENET_FILES["mobilenet_v2"])
    args = ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", tiny_dataset, "--size", "32"]
    args += ["--epochs", "1", "--batch-size", "4", "--workers", "0", "--project", tmp_path / "runs"]
    args += ["--pretrained-backbone", "imagenet"]
    mirror = f"http://127.0.0.1:{_closed_port()}/"
    monkeypatch.setenv("EDGESEG_WEIGHTS_URL", mirror)  # run_edgeseg passes this process's environment on
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    done = run_edgeseg(*args, "--name", "cached")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs" / "cached" / "weights" / "best.pt").is_file()
    assert "downloading" not in done.stderr

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    done = run_edgeseg(*args, "--name", "nonet")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot download {mirror}mobilenet_v2-7ebf99e0.pth (URLError")
    assert "Traceback" not in done.stderr
