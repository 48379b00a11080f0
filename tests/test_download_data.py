"""Tests of download_data.py against a local HTTP server serving small zips of real corpus files.

The zips hold a few files of the shared copy of the corpora (../shared/datasets beside the checkout),
laid out like the official releases: RAVDESS with Actor_XX/ at the top, TESS like a Dataverse
bundle (files at the top, one in a sub-folder, and a MANIFEST.TXT).
"""

import contextlib
import io
import socket
import subprocess
import sys
import threading
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
sys.path.insert(0, str(REPO))

import corpus  # noqa: E402
import download_data as dd  # noqa: E402

pytestmark = pytest.mark.skipif(
    not ((SHARED / "RAVDESS").is_dir() and (SHARED / "TESS").is_dir()),
    reason=f"the shared corpora are not at {SHARED} (expected RAVDESS/ and TESS/ there)")

ZENODO_PATH = "/records/1188976/files"
# RAVDESS: the first three files of two actors. TESS: one file of four folders.
RAVDESS_ACTORS_IN_ZIP = ("Actor_01", "Actor_02")
RAVDESS_FILES_PER_ACTOR = 3
TESS_FLAT = ("OAF_angry", "OAF_neutral", "YAF_pleasant_surprised")
TESS_NESTED = "YAF_fear"


def _first_files(folder, n):
    return sorted((SHARED / folder).iterdir())[:n]


def _ravdess_zip():
    """Like Audio_Speech_Actors_01-24.zip: Actor_XX/ folders at the top of the zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for actor in RAVDESS_ACTORS_IN_ZIP:
            zf.writestr(f"{actor}/", b"")
            for f in _first_files(f"RAVDESS/{actor}", RAVDESS_FILES_PER_ACTOR):
                zf.write(f, f"{actor}/{f.name}")
    return buf.getvalue()


def _tess_files():
    """{name inside the zip: source file}; from OAF_neutral, the irregular OA_bite_neutral."""
    files = {}
    for folder in TESS_FLAT:
        src = _first_files(f"TESS/{folder}", 1)[0]
        if folder == "OAF_neutral":
            src = next((SHARED / "TESS" / folder).glob("OA_bite_neutral.*"))
        files[src.name] = src
    src = _first_files(f"TESS/{TESS_NESTED}", 1)[0]
    files[f"TESS Toronto emotional speech set data/{TESS_NESTED.upper()}/{src.name}"] = src
    return files


def _tess_zip():
    """Like a Dataverse bundle: files flattened at the top (one nested), plus MANIFEST.TXT."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, src in _tess_files().items():
            zf.write(src, name)
        zf.writestr("MANIFEST.TXT", "Files in this bundle and their metadata\n")
    return buf.getvalue()


def _expected_missing():
    missing = {f"RAVDESS/{a}": 60 for a in dd.RAVDESS_ACTORS}
    missing.update({f"TESS/{f}": 200 for f in dd.TESS_RELEASE_FOLDERS.values()})
    for actor in RAVDESS_ACTORS_IN_ZIP:
        missing[f"RAVDESS/{actor}"] -= RAVDESS_FILES_PER_ACTOR
    for folder in (*TESS_FLAT, TESS_NESTED):
        missing[f"TESS/{folder}"] -= 1
    return missing


class _Handler(BaseHTTPRequestHandler):
    """Serves ``routes`` ({path: bytes}) and records every request target in ``seen``."""
    routes, seen = {}, []

    def do_GET(self):
        self.seen.append(self.path)
        body = self.routes.get(urllib.parse.urlsplit(self.path).path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server with the RAVDESS zip on a Zenodo-like path and TESS on a Dataverse one."""
    handler = type("Handler", (_Handler,), {"routes": {}, "seen": []})
    handler.routes[f"{ZENODO_PATH}/{dd.RAVDESS_SPEECH_ZIP}"] = _ravdess_zip()
    handler.routes[dd.DATAVERSE_DATASET_ZIP_PATH] = _tess_zip()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    handler.base = base
    handler.args = ["--zenodo-url", base + ZENODO_PATH, "--dataverse-url", base]
    yield handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """The whole shared copy linked into one dataset folder (once: 4240 symlinks take a while).

    Returns (dataset folder, exit status, stdout); tests must not change the folder.
    """
    dest = tmp_path_factory.mktemp("linked") / "ds"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = dd.main(["--local", str(SHARED), "--dest", str(dest)])
    return dest, status, out.getvalue()


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() else []


def _one_line_error(capsys):
    """The one error line on stderr (download progress lines may come before it)."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err and err.rstrip().endswith(errors[0]), err
    return errors[0]


# --- placement by name ------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("Actor_07/03-01-05-02-01-01-07.wav", "RAVDESS/Actor_07/03-01-05-02-01-01-07.wav"),
    ("deep/er/03-01-05-02-01-01-07.flac", "RAVDESS/Actor_07/03-01-05-02-01-01-07.flac"),
    ("Actor_01/03-02-06-01-01-01-01.wav", "RAVDESS_Song/Actor_01/03-02-06-01-01-01-01.wav"),
    ("OAF_food_fear.wav", "TESS/OAF_Fear/OAF_food_fear.wav"),
    ("x/oaf_pleasant_surprise/OAF_back_ps.wav", "TESS/OAF_Pleasant_surprise/OAF_back_ps.wav"),
    ("YAF_back_ps.wav", "TESS/YAF_pleasant_surprised/YAF_back_ps.wav"),
    ("OA_bite_neutral.wav", "TESS/OAF_neutral/OA_bite_neutral.wav"),
    ("YAF_sad/YAF_back_sad.wav", "TESS/YAF_sad/YAF_back_sad.wav"),
])
def test_destination_places_files_by_name(name, expected):
    assert dd.destination(name).as_posix() == expected


@pytest.mark.parametrize("name", ["MANIFEST.TXT", "Actor_02/03-01-05-02-01-01-07.wav",
                                  "01-01-05-02-01-01-07.mp4", "__MACOSX/._OAF_back_angry.wav",
                                  "OAF_back_bored.wav", "notes.wav"])
def test_destination_refuses_other_files(name):
    with pytest.raises(corpus.CorpusError):
        dd.destination(name)


def test_tess_folder_names_are_the_release_names():
    assert sorted(dd.TESS_RELEASE_FOLDERS.values()) == sorted(p.name for p in (SHARED / "TESS").iterdir())


# --- downloading ------------------------------------------------------------------------------

def test_download_places_files_and_reports_what_is_missing(server, tmp_path, capsys):
    dest = tmp_path / "ds"
    assert dd.main(server.args + ["--dest", str(dest)]) == 1

    paths = [urllib.parse.urlsplit(p) for p in server.seen]
    assert [p.path for p in paths] == [f"{ZENODO_PATH}/{dd.RAVDESS_SPEECH_ZIP}",
                                      dd.DATAVERSE_DATASET_ZIP_PATH]
    assert urllib.parse.parse_qs(paths[0].query) == {"download": ["1"]}
    assert urllib.parse.parse_qs(paths[1].query) == {"persistentId": ["doi:10.5683/SP2/E8H2MF"]}

    for actor in RAVDESS_ACTORS_IN_ZIP:
        for src in _first_files(f"RAVDESS/{actor}", RAVDESS_FILES_PER_ACTOR):
            assert (dest / "RAVDESS" / actor / src.name).read_bytes() == src.read_bytes()
    for src in _tess_files().values():
        placed = dest / "TESS" / src.parent.name / src.name
        assert placed.read_bytes() == src.read_bytes() and not placed.is_symlink()
    assert (dest / "TESS/OAF_neutral/OA_bite_neutral.flac").is_file()
    # Nothing else: no zips, no staging, no MANIFEST.TXT.
    assert [f for f in _files_under(dest) if not f.startswith(("RAVDESS", "TESS"))] == []

    result = dd.check(dest)
    assert result.missing() == _expected_missing()
    assert not result.ok and result.extra() == {} and result.broken == []
    out = capsys.readouterr().out
    assert "RAVDESS/Actor_01: 57 of 60 missing" in out
    assert "RAVDESS: no files at all for Actor_03-24 (1320 files)" in out
    assert "TESS/OAF_neutral: 199 of 200 missing" in out
    assert "OAF    2 of 1400" in out


def test_download_skips_corpora_that_are_complete(server, linked, capsys):
    dest = linked[0]
    assert dd.main(server.args + ["--dest", str(dest)]) == 0
    assert server.seen == []
    assert "already complete" in capsys.readouterr().out


def test_song_and_kept_zips(server, tmp_path, capsys):
    """--song fetches the song zip into RAVDESS_Song/; --keep-zips keeps the zips for the next run."""
    # Stand-in: a real speech file under a song name (only its placement is tested).
    src = _first_files("RAVDESS/Actor_03", 1)[0]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(src, "Actor_03/03-02-01-01-01-01-03.flac")
    server.routes[f"{ZENODO_PATH}/{dd.RAVDESS_SONG_ZIP}"] = buf.getvalue()
    dest = tmp_path / "ds"
    assert dd.main(server.args + ["--dest", str(dest), "--song", "--keep-zips"]) == 1
    assert (dest / "RAVDESS_Song/Actor_03/03-02-01-01-01-01-03.flac").is_file()
    missing = dd.check(dest, song=True).missing()
    assert missing["RAVDESS_Song/Actor_03"] == 43 and "RAVDESS_Song/Actor_18" not in missing
    assert sum(n for g, n in missing.items() if g.startswith("RAVDESS_Song/")) == 1012 - 1
    assert len(server.seen) == 3
    assert sorted(p.name for p in dest.glob("*.zip")) == sorted(
        [dd.RAVDESS_SPEECH_ZIP, dd.RAVDESS_SONG_ZIP, dd.TESS_ZIP])

    server.routes.clear()                                 # a second run needs no server
    assert dd.main(server.args + ["--dest", str(dest), "--song"]) == 1
    assert len(server.seen) == 3 and list(dest.glob("*.zip")) == []
    assert "using the copy already in" in capsys.readouterr().out


@pytest.mark.parametrize("corrupt, problem", [
    (lambda z: z[: len(z) // 2], "not a complete zip"),
    (lambda z: b"<html><body>Please log in</body></html>", "did not send a zip"),
])
def test_download_of_a_bad_zip_fails_cleanly(server, tmp_path, capsys, corrupt, problem):
    dest = tmp_path / "ds"
    server.routes[dd.DATAVERSE_DATASET_ZIP_PATH] = corrupt(_tess_zip())
    assert dd.main(server.args + ["--dest", str(dest)]) == 2
    err = _one_line_error(capsys)
    assert problem in err and "persistentId=doi:10.5683/SP2/E8H2MF" in err
    # RAVDESS, complete in itself, stays; nothing of TESS and no partial files.
    assert all(f.startswith("RAVDESS") for f in _files_under(dest))
    assert not (dest / "TESS").exists()


def test_zip_with_a_bad_file_inside_leaves_nothing(tmp_path, capsys):
    """A CRC error in the last member: earlier members were already staged, and are removed."""
    data = bytearray(_ravdess_zip())
    last = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[-1]
    start = last.header_offset + 30 + len(last.filename.encode()) + 100
    data[start:start + 16] = bytes(16)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    dest = tmp_path / "ds"
    assert dd.main(["--local", str(bad), "--dest", str(dest)]) == 2
    err = _one_line_error(capsys)
    assert str(bad) in err and "corrupt" in err
    assert _files_under(dest) == []


def test_unreachable_url_fails_with_one_line(tmp_path, capsys):
    dest = tmp_path / "ds"
    base = f"http://127.0.0.1:{_closed_port()}"
    assert dd.main(["--zenodo-url", base, "--dataverse-url", base, "--dest", str(dest)]) == 2
    err = _one_line_error(capsys)
    assert f"{base}/{dd.RAVDESS_SPEECH_ZIP}" in err and "cannot connect" in err
    assert _files_under(dest) == []


def test_http_error_names_the_url(server, tmp_path, capsys):
    del server.routes[f"{ZENODO_PATH}/{dd.RAVDESS_SPEECH_ZIP}"]
    assert dd.main(server.args + ["--dest", str(tmp_path / "ds")]) == 2
    err = _one_line_error(capsys)
    assert "HTTP 404" in err and dd.RAVDESS_SPEECH_ZIP in err
    assert _files_under(tmp_path / "ds") == []


def test_zip_path_traversal_is_refused(tmp_path, capsys):
    src = _first_files("RAVDESS/Actor_01", 1)[0]
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.write(src, f"Actor_01/{src.name}")
        zf.write(src, f"../../{src.name}")
    dest = tmp_path / "sub" / "ds"
    assert dd.main(["--local", str(evil), "--dest", str(dest)]) == 2
    assert "unsafe path in zip" in _one_line_error(capsys)
    assert _files_under(tmp_path) == ["evil.zip"]


# --- local copies and the check ---------------------------------------------------------------

def test_local_copy_is_linked_and_checks_complete(linked):
    dest, status, out = linked
    assert status == 0
    links = [p for p in dest.rglob("*") if p.is_symlink()]
    assert len(links) == 24 * 60 + 2800
    assert all(not p.is_symlink() for p in dest.rglob("*") if p.is_dir())
    assert (dest / "TESS/OAF_Fear/OAF_back_fear.flac").resolve() == \
        (SHARED / "TESS/OAF_Fear/OAF_back_fear.flac").resolve()
    utterances, _ = corpus.scan(dest)
    assert len(utterances) == 4240
    assert "linked 4240 files" in out and "All expected files are present." in out


def test_local_folder_of_zips(tmp_path, capsys):
    zips = tmp_path / "zips"
    zips.mkdir()
    (zips / dd.RAVDESS_SPEECH_ZIP).write_bytes(_ravdess_zip())
    (zips / "dataverse_files.zip").write_bytes(_tess_zip())
    dest = tmp_path / "ds"
    assert dd.main(["--local", str(zips), "--dest", str(dest)]) == 1
    assert dd.check(dest).missing() == _expected_missing()
    assert (zips / dd.RAVDESS_SPEECH_ZIP).is_file()          # the user's zips are left alone


def test_local_path_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert dd.main(["--local", str(missing), "--dest", str(tmp_path / "ds")]) == 2
    err = _one_line_error(capsys)
    assert str(missing) in err and "no such file or folder" in err


def test_check_reports_broken_links_and_leftovers(tmp_path):
    src = tmp_path / "copy" / "RAVDESS" / "Actor_05"
    src.mkdir(parents=True)
    files = _first_files("RAVDESS/Actor_05", 2)
    for f in files:
        (src / f.name).write_bytes(f.read_bytes())
    dest = tmp_path / "ds"
    assert dd.main(["--local", str(tmp_path / "copy"), "--dest", str(dest)]) == 1
    (src / files[0].name).unlink()
    (dest / ".download-x/RAVDESS/Actor_01").mkdir(parents=True)
    (dest / ".download-x/RAVDESS/Actor_01" / files[1].name.replace("-05.", "-01.")).write_bytes(b"")
    result = dd.check(dest)
    assert result.broken == [f"RAVDESS/Actor_05/{files[0].name}"]
    assert result.leftovers == [".download-x"]
    assert result.counts == {"RAVDESS/Actor_05": 1}
    lines = "\n".join(dd.report(result, dest))
    assert "links point at files that are gone" in lines and ".download-x" in lines
    dd.remove_leftovers(dest)
    assert not (dest / ".download-x").exists()


# --- command line -----------------------------------------------------------------------------

def test_cli(linked, tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "download_data.py"), "--check",
                          "--dest", str(linked[0])], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Actor_24  60" in run.stdout and "YAF 1400 of 1400" in run.stdout

    base = f"http://127.0.0.1:{_closed_port()}"
    run = subprocess.run([sys.executable, str(REPO / "download_data.py"), "--dest", str(tmp_path / "x"),
                          "--zenodo-url", base, "--dataverse-url", base],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert base in run.stderr
