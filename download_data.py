"""Get RAVDESS (speech) and TESS into the dataset folder, then check that every file is there.

    python download_data.py                          # download both corpora (about 0.5 GB), then check
    python download_data.py --song                   # also the RAVDESS song recordings
    python download_data.py --local ../shared/datasets   # use a local copy (or a folder of the zips)
    python download_data.py --check                  # only check what is already there

Sources (the official releases):

* RAVDESS, Zenodo record 1188976: ``Audio_Speech_Actors_01-24.zip`` (and, with ``--song``,
  ``Audio_Song_Actors_01-24.zip``). License CC BY-NC-SA 4.0; Livingstone & Russo (2018).
* TESS, University of Toronto, Scholars Portal Dataverse (now Borealis), doi:10.5683/SP2/E8H2MF,
  fetched as one zip with the Dataverse "download by dataset" access API. License CC BY-NC-ND 4.0;
  Dupuis & Pichora-Fuller (2010).

Files are placed by their names, read with corpus.py, not by the folders inside a zip:

    RAVDESS+TESS_Dataset/RAVDESS/Actor_XX/03-01-EE-II-SS-RR-XX.wav     speech, 60 per actor
    RAVDESS+TESS_Dataset/RAVDESS_Song/Actor_XX/03-02-...wav             song (only with --song)
    RAVDESS+TESS_Dataset/TESS/<release folder>/<speaker>_<word>_<emotion>.wav

so a zip whose folders are flattened or nested deeper still lands in the release layout. The
TESS folder names are the release's own, mixed case included (``OAF_Fear``, ``YAF_pleasant_surprised``).

Downloads go to a ``.part`` file in the dataset folder and are renamed when complete; a zip is
unpacked into a hidden staging folder that is moved into place only once the whole zip has been
read. On any error the partial files are removed, so the dataset folder never holds half a corpus
from a failed run. A corpus that already checks complete is not downloaded again (``--force`` to
redo it).

``--local`` makes per-file symbolic links to the local copy (the folders are real), because
corpus.scan walks the dataset folder with os.walk, which does not descend into linked folders.
Zips found directly inside the ``--local`` folder are unpacked instead.

Exit status: 0 when every expected file is there, 1 when the check finds files missing (it lists
them), 2 on an error (a URL that cannot be fetched, a corrupt zip, a path that does not exist).
"""

import argparse
import http.client
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import corpus

# Dataset folder that create_features.py reads by default, beside this script.
DEFAULT_DATASET_DIR = Path(__file__).resolve().parent / "RAVDESS+TESS_Dataset"
# Zenodo record of RAVDESS (doi:10.5281/zenodo.1188976); a file is at <this>/<name>?download=1.
ZENODO_FILES_URL = "https://zenodo.org/records/1188976/files"
# RAVDESS zips in that record: audio-only speech (1440 files) and audio-only song (1012 files).
RAVDESS_SPEECH_ZIP = "Audio_Speech_Actors_01-24.zip"
RAVDESS_SONG_ZIP = "Audio_Song_Actors_01-24.zip"
# Dataverse installation holding TESS: Scholars Portal Dataverse, now called Borealis.
DATAVERSE_URL = "https://borealisdata.ca"
# Persistent id of the TESS dataset there.
TESS_DOI = "doi:10.5683/SP2/E8H2MF"
# Dataverse access API, "download by dataset": every file of the latest published version, zipped.
DATAVERSE_DATASET_ZIP_PATH = "/api/access/dataset/:persistentId/"
# Name given to the downloaded TESS zip (Dataverse suggests dataverse_files.zip or doi-...zip).
TESS_ZIP = "TESS_dataverse_files.zip"
# Sent with every request; some servers refuse urllib's default agent.
USER_AGENT = "speech-emotion-recognition download_data.py (Python urllib)"
# Seconds to wait for a server to answer (connect, or each read) before giving up.
TIMEOUT_S = 60
# Bytes read per chunk while downloading.
CHUNK_BYTES = 1 << 20
# Seconds between two progress lines when the output is not a terminal.
PROGRESS_EVERY_S = 10.0
# Characters of a non-zip answer (an HTML error page, say) quoted in the error message.
ZIP_HEAD_SHOWN = 80

# Sub-folders of the dataset folder, one per corpus (RAVDESS song kept apart from speech).
RAVDESS_DIR = "RAVDESS"
RAVDESS_SONG_DIR = "RAVDESS_Song"
TESS_DIR = "TESS"
# What a complete copy holds: 24 actors x 60 speech files; song: 44 per actor, none for actor 18.
RAVDESS_ACTORS = tuple(f"Actor_{a:02d}" for a in range(1, 25))
RAVDESS_SPEECH_PER_ACTOR = 60
RAVDESS_SONG_PER_ACTOR = 44
RAVDESS_ACTORS_WITHOUT_SONG = ("Actor_18",)
# TESS: 7 emotion folders x 200 words per speaker. Folder names exactly as in the release.
TESS_FILES_PER_FOLDER = 200
TESS_RELEASE_FOLDERS = {
    ("OAF", "angry"): "OAF_angry", ("OAF", "disgust"): "OAF_disgust", ("OAF", "fear"): "OAF_Fear",
    ("OAF", "happy"): "OAF_happy", ("OAF", "neutral"): "OAF_neutral",
    ("OAF", "ps"): "OAF_Pleasant_surprise", ("OAF", "sad"): "OAF_Sad",
    ("YAF", "angry"): "YAF_angry", ("YAF", "disgust"): "YAF_disgust", ("YAF", "fear"): "YAF_fear",
    ("YAF", "happy"): "YAF_happy", ("YAF", "neutral"): "YAF_neutral",
    ("YAF", "ps"): "YAF_pleasant_surprised", ("YAF", "sad"): "YAF_sad",
}
# Prefix of the staging folders and download files in the dataset folder (removed on error).
STAGING_PREFIX = ".download-"
# Names of the three parts in messages.
PART_NAMES = {"ravdess": "RAVDESS speech", "song": "RAVDESS song", "tess": "TESS"}


class DownloadError(ValueError):
    """A source that cannot be used: unreachable URL, corrupt or unsafe zip, missing path."""


# ---------------------------------------------------------------------------------------------
# Where a file goes


def destination(name):
    """Relative path (PurePosixPath) in the dataset folder for a corpus file called ``name``.

    ``name`` may carry folders (a zip member, a path below --local); only a RAVDESS ``Actor_XX``
    parent is checked against the file name. Raises corpus.CorpusError for any other file.
    """
    path = PurePosixPath(str(name).replace("\\", "/"))
    if path.suffix.lower() not in corpus.AUDIO_EXTENSIONS:
        raise corpus.CorpusError(f"{path.name}: not an audio file ({path.suffix or 'no extension'})")
    parts = path.stem.split("_")
    if "-" in path.stem and len(parts) == 1:
        fields = corpus.parse_ravdess(Path(path.parent.name) / path.name)
        top = RAVDESS_DIR if fields["vocal_channel"] == "speech" else RAVDESS_SONG_DIR
        return PurePosixPath(top, fields["speaker"], path.name)
    if len(parts) >= 3:
        speaker = parts[0].upper()
        speaker = {"OA": "OAF", "YA": "YAF"}.get(speaker, speaker)
        folder = TESS_RELEASE_FOLDERS.get((speaker, parts[-1].lower()))
        if folder is not None:
            corpus.parse_tess(Path(folder) / path.name)   # the corpus rules must agree
            return PurePosixPath(TESS_DIR, folder, path.name)
    raise corpus.CorpusError(f"{path.name}: neither a RAVDESS (MM-VV-EE-II-SS-RR-AA) nor a TESS "
                             "(OAF_word_emotion, YAF_word_emotion) file name")


def _safe_member(name, zip_label):
    """Refuse zip members that would escape the folder they are unpacked into."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or (posix.parts and ":" in posix.parts[0]):
        raise DownloadError(f"{zip_label}: unsafe path in zip: {name!r}; refusing to unpack it")
    return posix


# ---------------------------------------------------------------------------------------------
# Staging: write into a hidden folder, then move into place


def _new_staging(dataset_dir):
    dataset_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=dataset_dir))


def remove_leftovers(dataset_dir):
    """Delete staging folders and .part files that a killed run left in the dataset folder."""
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        return
    for path in dataset_dir.glob(STAGING_PREFIX + "*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _commit(staging, dataset_dir, relpaths):
    """Move every staged file into the dataset folder, replacing what was there."""
    for rel in relpaths:
        target = dataset_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).replace(target)                   # replaces a file or link already there


def extract_zip(zip_path, dataset_dir, label=None):
    """Unpack the corpus files of one zip into the dataset folder, placed by their names.

    Returns ``(placed, skipped)``: the relative paths written and ``(member, reason)`` for every
    other member. Raises DownloadError for a corrupt or unsafe zip; then nothing is written.
    """
    zip_path, dataset_dir = Path(zip_path), Path(dataset_dir)
    label = label or str(zip_path)
    placed, skipped = {}, []
    staging = None
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = [info for info in zf.infolist() if not info.is_dir()]
            plan = []
            for info in members:                              # check every name before writing
                member = _safe_member(info.filename, label)
                try:
                    rel = destination(member)
                except corpus.CorpusError as err:
                    skipped.append((info.filename, str(err).split(": ", 1)[-1]))
                    continue
                if rel in placed:
                    skipped.append((info.filename, f"same file as {placed[rel]}"))
                    continue
                placed[rel] = info.filename
                plan.append((info, rel))
            staging = _new_staging(dataset_dir)
            for info, rel in plan:
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(staging / rel, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK_BYTES)
        _commit(staging, dataset_dir, list(placed))
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
        raise DownloadError(f"{label}: corrupt or unreadable zip ({err})") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(placed), skipped


def link_local(source_dir, dataset_dir):
    """Link every corpus file below ``source_dir`` into the dataset folder (per-file symlinks).

    Returns ``(placed, skipped)`` like extract_zip.
    """
    source_dir, dataset_dir = Path(source_dir).resolve(), Path(dataset_dir)
    utterances, skipped = corpus.scan(source_dir)
    placed = {}
    for u in utterances:
        try:
            rel = destination(u.relpath)
        except corpus.CorpusError as err:
            skipped.append((u.relpath, str(err).split(": ", 1)[-1]))
            continue
        if rel in placed:
            skipped.append((u.relpath, f"same file as {placed[rel]}"))
            continue
        placed[rel] = u.relpath
    if not placed:
        return [], skipped
    staging = _new_staging(dataset_dir)
    try:
        for rel, src_rel in placed.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).symlink_to(source_dir / src_rel)
        _commit(staging, dataset_dir, list(placed))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(placed), skipped


# ---------------------------------------------------------------------------------------------
# Downloading


def _progress(done, total, started, label, last, final=False):
    """Print one progress line; returns the time it printed (or ``last`` when it did not)."""
    now = time.monotonic()
    tty = sys.stderr.isatty()
    if not final and now - last < (0.2 if tty else PROGRESS_EVERY_S):
        return last
    rate = done / max(now - started, 1e-6) / 2**20
    size = f"{done / 2**20:.1f} of {total / 2**20:.1f} MiB ({100 * done / total:.0f}%)" if total \
        else f"{done / 2**20:.1f} MiB"
    end = "\n" if final or not tty else ""
    print(f"\r  {label}: {size}, {rate:.1f} MiB/s   ", end=end, file=sys.stderr, flush=True)
    return now


def download(url, target, timeout=TIMEOUT_S):
    """Fetch ``url`` to ``target`` through a ``.part`` file renamed once complete. Returns target.

    Raises DownloadError (one line naming the URL) when the server cannot be reached, answers
    with an error, or sends fewer bytes than it announced, or something that is not a zip.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(STAGING_PREFIX + target.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    label = target.name
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, started = 0, time.monotonic()
            last = started
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                last = _progress(done, total, started, label, last)
            _progress(done, total, started, label, last, final=True)
        if total and done != total:
            raise DownloadError(f"{url}: download incomplete ({done} of {total} bytes)")
        if not zipfile.is_zipfile(part):
            with open(part, "rb") as f:
                head = f.read(ZIP_HEAD_SHOWN)
            if head.startswith(b"PK"):
                raise DownloadError(f"{url}: the download is not a complete zip (truncated or corrupt)")
            text = " ".join(head.decode("utf-8", "replace").split())
            raise DownloadError(f"{url}: the server did not send a zip (it sent {done} bytes "
                                f"starting {text!r})")
        part.replace(target)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise DownloadError(f"{url}: cannot connect ({err.reason})") from None
    except (http.client.HTTPException, OSError) as err:
        raise DownloadError(f"{url}: download failed ({type(err).__name__}: {err})") from None
    finally:
        part.unlink(missing_ok=True)
    return target


def source_urls(zenodo_url=ZENODO_FILES_URL, dataverse_url=DATAVERSE_URL, song=False):
    """``{zip name: URL}`` of the official releases, from the two base URLs."""
    zenodo = zenodo_url.rstrip("/")
    urls = {RAVDESS_SPEECH_ZIP: f"{zenodo}/{RAVDESS_SPEECH_ZIP}?download=1"}
    if song:
        urls[RAVDESS_SONG_ZIP] = f"{zenodo}/{RAVDESS_SONG_ZIP}?download=1"
    query = urllib.parse.urlencode({"persistentId": TESS_DOI}, safe=":/")
    urls[TESS_ZIP] = f"{dataverse_url.rstrip('/')}{DATAVERSE_DATASET_ZIP_PATH}?{query}"
    return urls


def fetch(dataset_dir, urls, keep_zips=False, force=False, timeout=TIMEOUT_S):
    """Download and unpack each zip of ``urls`` (see source_urls) into the dataset folder.

    A zip whose corpus already checks complete is skipped unless ``force``. A complete zip left
    in the dataset folder by an earlier run (``keep_zips``) is used instead of downloading it.
    """
    dataset_dir = Path(dataset_dir)
    before = check(dataset_dir, song=True) if dataset_dir.is_dir() and not force else None
    for name, url in urls.items():
        part = {RAVDESS_SPEECH_ZIP: "ravdess", RAVDESS_SONG_ZIP: "song", TESS_ZIP: "tess"}[name]
        if before is not None and not before.missing_in(part):
            print(f"{name}: {PART_NAMES[part]} is already complete in {dataset_dir.name}/; "
                  "not downloading it (--force to fetch it again)")
            continue
        zip_path = dataset_dir / name
        if zip_path.is_file() and zipfile.is_zipfile(zip_path):
            print(f"{name}: using the copy already in {dataset_dir.name}/")
        else:
            print(f"{name}: downloading {url}")
            download(url, zip_path, timeout=timeout)
        try:
            placed, skipped = extract_zip(zip_path, dataset_dir, label=f"{name} (from {url})")
        except DownloadError:
            zip_path.unlink(missing_ok=True)
            raise
        _report_unpacked(name, placed, skipped)
        if not keep_zips:
            zip_path.unlink()


def use_local(source, dataset_dir):
    """Make the corpora in ``source`` (a copy in the release layout, or a folder of the zips)
    available in the dataset folder: link the audio files, unpack the zips."""
    source, dataset_dir = Path(source), Path(dataset_dir)
    if not source.exists():
        raise DownloadError(f"{source}: no such file or folder")
    if source.is_file():
        zips, folder = [source], None
    else:
        zips, folder = sorted(p for p in source.iterdir() if p.suffix.lower() == ".zip"), source
    resolved, dataset_resolved = source.resolve(), dataset_dir.resolve()
    if resolved == dataset_resolved or dataset_resolved in resolved.parents:
        raise DownloadError(f"{source}: that is inside the dataset folder; give the folder of a copy")
    if folder is not None and resolved in dataset_resolved.parents:
        raise DownloadError(f"{source}: that folder holds the dataset folder {dataset_dir}; "
                            "give the folder of the copy itself")
    total = 0
    for z in zips:
        placed, skipped = extract_zip(z, dataset_dir)
        _report_unpacked(z.name, placed, skipped)
        total += len(placed)
    if folder is not None:
        placed, skipped = link_local(folder, dataset_dir)
        skipped = [(rel, why) for rel, why in skipped if not rel.lower().endswith(".zip")]
        if placed:
            print(f"{folder}: linked {len(placed)} files into {dataset_dir.name}/"
                  + (f" ({len(skipped)} other files ignored)" if skipped else ""))
        total += len(placed)
    if total == 0:
        raise DownloadError(f"{source}: no RAVDESS or TESS audio files and no zips of them found")


def _report_unpacked(name, placed, skipped):
    audio = [(m, why) for m, why in skipped if Path(m).suffix.lower() in corpus.AUDIO_EXTENSIONS]
    line = f"{name}: unpacked {len(placed)} corpus files"
    if skipped:
        line += f"; ignored {len(skipped)} other members"
        if audio:
            line += f", {len(audio)} of them audio, e.g. {audio[0][0]} ({audio[0][1]})"
    print(line)


# ---------------------------------------------------------------------------------------------
# Checking


class CheckResult:
    """Counts found in a dataset folder against a complete copy.

    ``counts`` maps a group (``RAVDESS/Actor_01``, ``RAVDESS_Song/Actor_01``, ``TESS/OAF_Fear``)
    to the files found; ``expected`` to the files a complete copy holds; ``broken`` lists links
    whose target is gone; ``ignored`` the files that are no corpus audio; ``leftovers`` the
    staging files of an interrupted run (not counted; a later run removes them).
    """

    def __init__(self, counts, expected, broken=(), ignored=(), leftovers=()):
        self.counts, self.expected = counts, expected
        self.broken, self.ignored, self.leftovers = list(broken), list(ignored), list(leftovers)

    def missing(self):
        """``{group: number of files missing}`` for every incomplete group."""
        return {g: n - self.counts.get(g, 0) for g, n in self.expected.items()
                if self.counts.get(g, 0) < n}

    def extra(self):
        """``{group: number of files beyond a complete copy}`` (duplicates, e.g. .wav beside .flac)."""
        return {g: c - self.expected.get(g, 0) for g, c in self.counts.items()
                if c > self.expected.get(g, 0)}

    def missing_in(self, part):
        """Groups of one part ('ravdess', 'song', 'tess') that are incomplete."""
        top = {"ravdess": RAVDESS_DIR, "song": RAVDESS_SONG_DIR, "tess": TESS_DIR}[part]
        return {g: n for g, n in self.missing().items() if g.split("/")[0] == top}

    @property
    def ok(self):
        return not (self.missing() or self.extra() or self.broken or self.leftovers)


def check(dataset_dir, song=False):
    """Count the corpus files in ``dataset_dir`` with corpus.scan; see CheckResult.

    The song recordings are expected only when ``song`` is true (and counted whenever present).
    """
    dataset_dir = Path(dataset_dir)
    utterances, skipped = corpus.scan(dataset_dir)
    token_of = {emotion: token for token, emotion in corpus.TESS_TOKENS.items()}
    counts, broken = {}, []
    leftovers = sorted({rel.split("/")[0] for rel in [u.relpath for u in utterances]
                        + [rel for rel, _ in skipped] if rel.startswith(STAGING_PREFIX)})
    for u in utterances:
        if u.relpath.startswith(STAGING_PREFIX):
            continue
        if not u.path.exists():
            broken.append(u.relpath)
            continue
        if u.corpus == "RAVDESS":
            group = f"{RAVDESS_DIR if u.vocal_channel == 'speech' else RAVDESS_SONG_DIR}/{u.speaker}"
        else:
            group = f"{TESS_DIR}/{TESS_RELEASE_FOLDERS[(u.speaker, token_of[u.emotion])]}"
        counts[group] = counts.get(group, 0) + 1
    expected = {f"{RAVDESS_DIR}/{a}": RAVDESS_SPEECH_PER_ACTOR for a in RAVDESS_ACTORS}
    expected.update({f"{TESS_DIR}/{f}": TESS_FILES_PER_FOLDER for f in TESS_RELEASE_FOLDERS.values()})
    if song or any(g.startswith(RAVDESS_SONG_DIR + "/") for g in counts):
        expected.update({f"{RAVDESS_SONG_DIR}/{a}": RAVDESS_SONG_PER_ACTOR for a in RAVDESS_ACTORS
                         if a not in RAVDESS_ACTORS_WITHOUT_SONG})
    ignored = [rel for rel, _ in skipped if rel != "README.md" and not rel.startswith(STAGING_PREFIX)]
    return CheckResult(counts, expected, broken, ignored, leftovers)


def _name_ranges(names):
    """``Actor_03-05, Actor_09`` for Actor_03, Actor_04, Actor_05, Actor_09; other names as they are."""
    if not all(n.startswith("Actor_") for n in names):
        return ", ".join(names)
    numbers, runs = sorted(int(n[6:]) for n in names), []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"Actor_{a:02d}" + (f"-{b:02d}" if b > a else "") for a, b in runs)


def _missing_lines(missing, expected):
    """One line per partly missing group, one per corpus part for the groups missing entirely."""
    lines, empty = [], {}
    for group, n in missing.items():
        top, name = group.split("/")
        if n == expected[group]:
            empty.setdefault(top, []).append(name)
        else:
            lines.append(f"  {group}: {n} of {expected[group]} missing")
    for top, names in empty.items():
        n = sum(expected[f"{top}/{name}"] for name in names)
        lines.append(f"  {top}: no files at all for {_name_ranges(names)} ({n} files)")
    return lines


def report(result, dataset_dir):
    """The check as printable lines: a table per corpus, then exactly what is missing."""
    c, lines = result.counts, [f"Files in {dataset_dir}:"]

    def group_sum(top, names):
        return sum(c.get(f"{top}/{n}", 0) for n in names)

    for top, per_actor in ((RAVDESS_DIR, RAVDESS_SPEECH_PER_ACTOR), (RAVDESS_SONG_DIR, None)):
        if top == RAVDESS_SONG_DIR and not any(g.startswith(top + "/") for g in result.expected):
            continue
        found = group_sum(top, RAVDESS_ACTORS)
        want = sum(n for g, n in result.expected.items() if g.startswith(top + "/"))
        what = "speech" if per_actor else "song"
        lines.append(f"  RAVDESS {what}: {found} of {want} files"
                     + (f" ({per_actor} per actor)" if per_actor else ""))
        for row in range(0, len(RAVDESS_ACTORS), corpus.RAVDESS_ACTORS_PER_FOLD):
            actors = RAVDESS_ACTORS[row:row + corpus.RAVDESS_ACTORS_PER_FOLD]
            lines.append("    " + "   ".join(f"{a} {c.get(f'{top}/{a}', 0):3d}" for a in actors))
    tess_total = group_sum(TESS_DIR, TESS_RELEASE_FOLDERS.values())
    lines.append(f"  TESS: {tess_total} of {len(TESS_RELEASE_FOLDERS) * TESS_FILES_PER_FOLDER} files "
                 f"({TESS_FILES_PER_FOLDER} per folder)")
    for speaker in corpus.TESS_SPEAKERS:
        folders = [f for (s, _), f in TESS_RELEASE_FOLDERS.items() if s == speaker]
        lines.append(f"    {speaker} {group_sum(TESS_DIR, folders):4d} of "
                     f"{len(folders) * TESS_FILES_PER_FOLDER}")
    missing, extra = result.missing(), result.extra()
    if missing:
        lines.append(f"Missing {sum(missing.values())} files:")
        lines += _missing_lines(missing, result.expected)
    if extra:
        lines.append("More files than a complete copy holds (duplicates?):")
        lines += [f"  {g}: {n} extra" for g, n in extra.items()]
    if result.broken:
        lines.append(f"{len(result.broken)} links point at files that are gone, e.g. {result.broken[0]}")
    if result.leftovers:
        lines.append(f"Left over from an interrupted run (rerun the download, or delete them): "
                     f"{', '.join(result.leftovers)}")
    if result.ignored:
        lines.append(f"({len(result.ignored)} other files ignored, e.g. {result.ignored[0]})")
    if result.ok:
        lines.append("All expected files are present.")
    return lines


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Download RAVDESS (speech) and TESS into the dataset folder and check them.",
        epilog="Exit status: 0 complete, 1 files missing, 2 error.")
    p.add_argument("--dest", type=Path, default=DEFAULT_DATASET_DIR,
                   help="dataset folder (default: %(default)s)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--local", type=Path, metavar="PATH",
                      help="use a local copy instead of downloading: a folder in the release layout "
                           "(linked file by file), a folder holding the zips, or one zip")
    mode.add_argument("--check", action="store_true", help="only check the dataset folder")
    p.add_argument("--song", action="store_true",
                   help=f"also get the RAVDESS song recordings ({RAVDESS_SONG_ZIP})")
    p.add_argument("--zenodo-url", default=ZENODO_FILES_URL,
                   help="base URL of the RAVDESS files (default: %(default)s)")
    p.add_argument("--dataverse-url", default=DATAVERSE_URL,
                   help="Dataverse installation holding TESS (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=TIMEOUT_S,
                   help="seconds to wait for a server (default: %(default)s)")
    p.add_argument("--keep-zips", action="store_true",
                   help="keep the downloaded zips in the dataset folder (reused on the next run)")
    p.add_argument("--force", action="store_true",
                   help="download even corpora that are already complete")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    dest = args.dest
    try:
        if args.local is not None or not args.check:
            remove_leftovers(dest)
        if args.local is not None:
            use_local(args.local, dest)
        elif not args.check:
            fetch(dest, source_urls(args.zenodo_url, args.dataverse_url, args.song),
                  keep_zips=args.keep_zips, force=args.force, timeout=args.timeout)
        result = check(dest, song=args.song)
    except (DownloadError, corpus.CorpusError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    print("\n".join(report(result, dest)))
    if not result.ok and result.missing_in("tess") and args.local is None and not args.check:
        print(f"Dataverse may leave files out of a large zip (see its MANIFEST.TXT); get the rest "
              f"from https://doi.org/{TESS_DOI[4:]} and run --local on the folder.")
    return 0 if result.ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; partial files were removed", file=sys.stderr)
        sys.exit(130)
