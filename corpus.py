"""The two corpora as they really are: file names, labels, speakers, and the speaker folds.

One place holds the label map (EMOTIONS) and the rules that turn a corpus file name into a
label and a speaker. Everything else (featurizing, training, the data download check) calls it.

RAVDESS: ``Actor_XX/MM-VV-EE-II-SS-RR-AA.(wav|flac)``, seven two-digit fields:
modality (01 full-AV, 02 video-only, 03 audio-only), vocal channel (01 speech, 02 song),
emotion (01..08, in the order of EMOTIONS), intensity (01 normal, 02 strong; neutral has only 01),
statement (01, 02), repetition (01, 02), actor (01..24; odd male, even female).

TESS: ``<OAF|YAF>_<emotion folder>/<speaker>_<word>_<emotion token>.(wav|flac)``, folder names in
the release's mixed case (``OAF_Fear``, ``YAF_pleasant_surprised``), one irregular file name
(``OAF_neutral/OA_bite_neutral``). Tokens: angry, disgust, fear, happy, neutral, ps, sad.
"""

import dataclasses
import os
import re
from pathlib import Path

# The eight emotions, in RAVDESS code order (code 01 is index 0). This tuple is the label map:
# it is saved beside every model and every features file, and prediction reads it from there.
EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")

# File endings read as audio when scanning a dataset folder.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

# RAVDESS song recordings cover only these emotions (no disgust, no surprised).
RAVDESS_SONG_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful")

# TESS emotion tokens (in file names) and folder suffixes (lower-cased) onto EMOTIONS.
TESS_TOKENS = {"angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
               "neutral": "neutral", "ps": "surprised", "sad": "sad"}
TESS_FOLDERS = {"angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
                "neutral": "neutral", "pleasant_surprise": "surprised",
                "pleasant_surprised": "surprised", "sad": "sad"}
TESS_SPEAKERS = ("OAF", "YAF")

# Protocol (b): RAVDESS actors in 6 folds of 4 (1-4, 5-8, ... 21-24), then one fold per TESS speaker.
RAVDESS_ACTORS_PER_FOLD = 4
N_SPEAKER_FOLDS = 24 // RAVDESS_ACTORS_PER_FOLD + len(TESS_SPEAKERS)

_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_RAVDESS_FOLDER = re.compile(r"^Actor_(\d\d)$")
_TESS_FOLDER = re.compile(r"^(OAF|YAF)_(.+)$", re.IGNORECASE)


class CorpusError(ValueError):
    """A file name that does not follow its corpus's naming convention."""


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One labelled corpus file. ``speaker`` is unique across corpora (``Actor_01``, ``OAF``)."""
    path: Path
    relpath: str
    corpus: str
    speaker: str
    emotion: str
    vocal_channel: str = "speech"
    intensity: str = "normal"
    statement: str = ""

    @property
    def label(self):
        return EMOTIONS.index(self.emotion)


def parse_ravdess(path):
    """Parse a RAVDESS file name. Returns a dict of its fields; raises CorpusError naming the problem."""
    path = Path(path)
    m = _RAVDESS_NAME.match(path.stem)
    if not m:
        raise CorpusError(f"{path.name}: not a RAVDESS name (expected MM-VV-EE-II-SS-RR-AA)")
    modality, channel, emotion, intensity, statement, repetition, actor = (int(g) for g in m.groups())
    if modality in (1, 2):
        kind = "full audio-video" if modality == 1 else "video-only"
        raise CorpusError(f"{path.name}: a {kind} RAVDESS file (modality {modality:02d}); "
                          "use the audio-only release (modality 03), or Mp4ToWav.py for audio-video")
    if modality != 3:
        raise CorpusError(f"{path.name}: modality {modality:02d} is not 01, 02 or 03")
    if channel not in (1, 2):
        raise CorpusError(f"{path.name}: vocal channel {channel:02d} is not 01 (speech) or 02 (song)")
    if not 1 <= emotion <= 8:
        raise CorpusError(f"{path.name}: emotion {emotion:02d} is not 01..08")
    if intensity not in (1, 2):
        raise CorpusError(f"{path.name}: intensity {intensity:02d} is not 01 or 02")
    if emotion == 1 and intensity == 2:
        raise CorpusError(f"{path.name}: neutral has no strong intensity (02)")
    if statement not in (1, 2) or repetition not in (1, 2):
        raise CorpusError(f"{path.name}: statement and repetition must be 01 or 02")
    if not 1 <= actor <= 24:
        raise CorpusError(f"{path.name}: actor {actor:02d} is not 01..24")
    name = EMOTIONS[emotion - 1]
    if channel == 2 and name not in RAVDESS_SONG_EMOTIONS:
        raise CorpusError(f"{path.name}: RAVDESS song has no {name} recordings")
    folder = _RAVDESS_FOLDER.match(path.parent.name)
    if folder and int(folder.group(1)) != actor:
        raise CorpusError(f"{path.name}: actor {actor:02d} is filed under {path.parent.name}")
    return {"emotion": name, "speaker": f"Actor_{actor:02d}",
            "vocal_channel": "speech" if channel == 1 else "song",
            "intensity": "normal" if intensity == 1 else "strong",
            "statement": f"{statement:02d}", "repetition": repetition, "actor": actor}


def parse_tess(path):
    """Parse a TESS file under its emotion folder. Returns a dict; raises CorpusError naming the problem."""
    path = Path(path)
    folder = _TESS_FOLDER.match(path.parent.name)
    if not folder:
        raise CorpusError(f"{path.name}: not inside a TESS folder such as OAF_angry")
    speaker = folder.group(1).upper()
    folder_emotion = TESS_FOLDERS.get(folder.group(2).lower())
    if folder_emotion is None:
        raise CorpusError(f"{path.parent.name}: unknown TESS emotion folder")
    parts = path.stem.split("_")
    if len(parts) < 3:
        raise CorpusError(f"{path.name}: not a TESS name (expected SPEAKER_word_emotion)")
    prefix, word, token = parts[0].upper(), "_".join(parts[1:-1]), parts[-1].lower()
    # The release names one file OA_bite_neutral: accept the speaker's two-letter prefix too.
    if prefix not in (speaker, speaker[:2]):
        raise CorpusError(f"{path.name}: speaker {parts[0]} is filed under {path.parent.name}")
    emotion = TESS_TOKENS.get(token)
    if emotion is None:
        raise CorpusError(f"{path.name}: unknown TESS emotion token '{parts[-1]}'")
    if emotion != folder_emotion:
        raise CorpusError(f"{path.name}: emotion '{parts[-1]}' is filed under {path.parent.name}")
    return {"emotion": emotion, "speaker": speaker, "word": word}


def identify(path, root):
    """Label one file below ``root``. Returns an Utterance; raises CorpusError when it cannot."""
    path = Path(path)
    relpath = path.relative_to(root).as_posix()
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise CorpusError(f"{relpath}: not an audio file ({path.suffix or 'no extension'})")
    if _RAVDESS_NAME.match(path.stem) or _RAVDESS_FOLDER.match(path.parent.name):
        f = parse_ravdess(path)
        return Utterance(path, relpath, "RAVDESS", f["speaker"], f["emotion"], f["vocal_channel"],
                         f["intensity"], f["statement"])
    if _TESS_FOLDER.match(path.parent.name):
        f = parse_tess(path)
        return Utterance(path, relpath, "TESS", f["speaker"], f["emotion"])
    raise CorpusError(f"{relpath}: neither a RAVDESS (Actor_XX/) nor a TESS (OAF_*/YAF_*) file")


def scan(root):
    """Find every corpus file below ``root`` (any depth, sorted).

    Returns ``(utterances, skipped)``: a list of Utterance and a list of ``(relpath, reason)`` for
    every other file, so that nothing is passed over without being counted. Hidden files count too.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: no such dataset folder; run `python download_data.py` first")
    utterances, skipped = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                utterances.append(identify(path, root))
            except CorpusError as err:
                skipped.append((path.relative_to(root).as_posix(), str(err).split(": ", 1)[-1]))
    return utterances, skipped


def speaker_fold(corpus, speaker):
    """Protocol (b) fold of a speaker: 0..5 for RAVDESS actors 1-4 .. 21-24, 6 for OAF, 7 for YAF."""
    if corpus == "RAVDESS":
        return (int(speaker.split("_")[1]) - 1) // RAVDESS_ACTORS_PER_FOLD
    if corpus == "TESS":
        return 24 // RAVDESS_ACTORS_PER_FOLD + TESS_SPEAKERS.index(speaker)
    raise CorpusError(f"unknown corpus {corpus!r}")


def actor_sex(speaker):
    """"female" or "male" for a RAVDESS actor (``Actor_01`` is male, ``Actor_02`` female: odd
    numbers are men, as the corpus documents). Raises CorpusError for any other speaker name."""
    m = _RAVDESS_FOLDER.match(speaker)
    if not m or not 1 <= int(m.group(1)) <= 24:
        raise CorpusError(f"{speaker!r}: not a RAVDESS actor (Actor_01 to Actor_24)")
    return "male" if int(m.group(1)) % 2 else "female"


def speaker_sex(corpus_name, speaker):
    """"female" or "male" for any speaker of the two corpora: corpus.actor_sex for a RAVDESS actor;
    both TESS voices (OAF, YAF) are women. Raises CorpusError for an unknown corpus or voice."""
    if corpus_name == "RAVDESS":
        return actor_sex(speaker)
    if corpus_name == "TESS" and speaker in TESS_SPEAKERS:
        return "female"
    raise CorpusError(f"{corpus_name!r} speaker {speaker!r}: not a RAVDESS actor or a TESS voice")


def count_by_speaker(utterances):
    """``{(corpus, speaker): number of files}`` for a list of Utterance."""
    counts = {}
    for u in utterances:
        counts[(u.corpus, u.speaker)] = counts.get((u.corpus, u.speaker), 0) + 1
    return counts
