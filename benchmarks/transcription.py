"""Word error rate of the offline transcription (pocketsphinx through SpeechRecognition) on RAVDESS.

    python benchmarks/transcription.py                        # every RAVDESS speech file (1440), 2 processes
    python benchmarks/transcription.py --actors 1 2 3 4 --jobs 1

RAVDESS actors say one of two sentences (statement 01 or 02 in the file name), so every file has
a known transcript. Each file goes through speech_text_translation.transcribe, exactly as the
script does it. Prints a Markdown table: files, WER (word edits over reference words, summed over
the files), the share of files transcribed exactly, and seconds per file.
"""

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import audio  # noqa: E402
import corpus  # noqa: E402
from speech_text_translation import transcribe, word_error_rate, words  # noqa: E402

# The corpora, beside the checkout as on developer machines and in CI.
DATASET = REPO.parent / "shared" / "datasets"
# RAVDESS's two statements.
SENTENCES = {"01": "kids are talking by the door", "02": "dogs are sitting by the door"}
# Worker processes (the machines here have 2 cores).
JOBS = 2


def one(path):
    """(statement, reference words, word edits, transcript) of one RAVDESS file."""
    statement = corpus.parse_ravdess(path)["statement"]
    text = transcribe(audio.load_audio(path))
    ref = SENTENCES[statement]
    return statement, len(words(ref)), word_error_rate(ref, text) * len(words(ref)), text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET, help="folder holding RAVDESS/Actor_XX/")
    parser.add_argument("--actors", type=int, nargs="*", help="only these actors (default: all 24)")
    parser.add_argument("--jobs", type=int, default=JOBS, help="worker processes")
    args = parser.parse_args(argv)

    files = sorted(p for p in (args.dataset / "RAVDESS").glob("Actor_*/*")
                   if p.suffix.lower() in corpus.AUDIO_EXTENSIONS
                   and (not args.actors or corpus.parse_ravdess(p)["actor"] in args.actors))
    if not files:
        print(f"error: {args.dataset / 'RAVDESS'}: no RAVDESS files", file=sys.stderr)
        return 2
    from joblib import Parallel, delayed
    start = time.perf_counter()
    results = Parallel(n_jobs=args.jobs)(delayed(one)(f) for f in files)
    seconds = time.perf_counter() - start

    print("| sentence | files | WER | exactly right |")
    print("|---|---|---|---|")
    for key, sentence in list(SENTENCES.items()) + [("all", "both")]:
        rows = [r for r in results if key == "all" or r[0] == key]
        n_words, edits = sum(r[1] for r in rows), sum(r[2] for r in rows)
        exact = sum(r[2] == 0 for r in rows)
        print(f"| {sentence if key != 'all' else '**both**'} | {len(rows)} | {edits / n_words:.1%} | "
              f"{exact / len(rows):.1%} |")
    actors = "all 24 actors" if not args.actors else f"actors {' '.join(map(str, args.actors))}"
    print(f"\n{len(files)} RAVDESS files ({actors}) in {seconds:.0f} s with {args.jobs} process(es) "
          f"({seconds * args.jobs / len(files):.2f} s per file per process)")
    common = {}
    for _, _, _, text in results:
        common[text] = common.get(text, 0) + 1
    for text, n in sorted(common.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {n:4d} x {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
