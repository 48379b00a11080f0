"""Measure the speech / no-speech decision (vad.py): corpus files kept, generated non-speech rejected.

    python benchmarks/speech_detection.py                       # all corpus files in ../shared/datasets
    python benchmarks/speech_detection.py --dataset RAVDESS+TESS_Dataset --seeds 5

Every corpus file is speech, so each one judged "no speech" is a miss. The non-speech is generated
here, deterministically from --seeds: digital silence, 1-LSB dither, white/pink/brown noise at five
levels, steady tones and tone beeps, 50/60 Hz mains hum with harmonics, click trains, random clicks
on faint noise, and bursts of pink noise. Prints a Markdown table and the files or signals that
were judged wrongly; exits 1 when fewer than KEEP_TARGET of the files are kept or fewer than
REJECT_TARGET of the non-speech signals are rejected.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import audio  # noqa: E402
import augment  # noqa: E402
import vad  # noqa: E402
from corpus import AUDIO_EXTENSIONS  # noqa: E402

# The corpora, beside the checkout as on developer machines and in CI.
DATASET = REPO.parent / "shared" / "datasets"
# Length of each generated non-speech signal, in seconds.
SECONDS = 3.0
# Random seeds for the generated signals (each seed gives a new set of noises and clicks).
SEEDS = 5
# The targets: share of corpus files kept as speech, share of non-speech rejected.
KEEP_TARGET = 0.99
REJECT_TARGET = 0.98


def _gain(level_db):
    return 10.0 ** (level_db / 20.0)


def nonspeech_signals(seed=0, seconds=SECONDS):
    """{name: mono SAMPLE_RATE float32 signal} of generated non-speech, the same for the same seed."""
    rng = np.random.default_rng(seed)
    sr = audio.SAMPLE_RATE
    n = int(seconds * sr)
    t = np.arange(n) / sr
    out = {"digital silence": np.zeros(n), "dither (1 LSB)": rng.integers(-1, 2, n) / 32768.0}
    for kind in ("white", "pink", "brown"):
        for level in (-70, -50, -30, -20, -10):
            out[f"{kind} noise {level} dBFS"] = augment.coloured_noise(n, kind, rng) * _gain(level)
    for freq in (100, 150, 220, 440, 1000, 3000):
        for level in (-40, -20, -6):
            phase = rng.uniform(0, 2 * np.pi)
            out[f"tone {freq} Hz {level} dBFS"] = np.sqrt(2) * _gain(level) * np.sin(2 * np.pi * freq * t + phase)
    for freq in (220, 440, 1000):
        on = (t % 1.0) < 0.3
        out[f"beeps {freq} Hz 0.3 s/1 s"] = 0.3 * on * np.sin(2 * np.pi * freq * t)
    for mains in (50, 60):
        for level in (-40, -20):
            hum = sum(np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 8))
            out[f"hum {mains} Hz {level} dBFS"] = hum / np.sqrt(np.mean(hum ** 2)) * _gain(level)
    for rate in (1, 2, 5, 10, 50):
        clicks = np.zeros(n)
        clicks[(np.arange(0, seconds, 1.0 / rate) * sr).astype(int)] = 0.8
        out[f"clicks {rate}/s"] = clicks
    clicks = np.zeros(n)
    clicks[rng.integers(0, n, 20)] = rng.uniform(-1, 1, 20)
    out["random clicks on -60 dBFS noise"] = clicks + augment.coloured_noise(n, "white", rng) * _gain(-60)
    gate = np.repeat(rng.random(int(seconds * 5)) < 0.4, sr // 5)[:n]
    out["pink noise bursts -20 dBFS"] = augment.coloured_noise(n, "pink", rng) * _gain(-20) * gate
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi))
    out["pink noise modulated at 4 Hz -20 dBFS"] = augment.coloured_noise(n, "pink", rng) * _gain(-20) * syllables
    sweep = 200.0 * (10.0 ** (t / seconds))  # 200 Hz to 2 kHz
    out["tone sweep 200 Hz-2 kHz -20 dBFS"] = np.sqrt(2) * _gain(-20) * np.sin(2 * np.pi * np.cumsum(sweep) / sr)
    return {name: x.astype(np.float32) for name, x in out.items()}


def category(name):
    """The row of the table a generated signal belongs to."""
    for word in ("silence", "dither", "white", "pink noise bursts", "modulated", "pink", "brown", "sweep", "tone", "beeps",
                 "hum", "random clicks", "clicks"):
        if word in name:
            return {"silence": "digital silence", "dither": "1-LSB dither", "pink noise bursts": "noise bursts and modulated noise",
                    "modulated": "noise bursts and modulated noise", "sweep": "tone beeps and sweeps",
                    "white": "white noise", "pink": "pink noise", "brown": "brown noise", "tone": "steady tones",
                    "beeps": "tone beeps and sweeps", "hum": "mains hum", "random clicks": "clicks",
                    "clicks": "clicks"}[word]
    return "other"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET, help="folder of corpus audio (all speech)")
    parser.add_argument("--seeds", type=int, default=SEEDS, help="sets of generated non-speech")
    args = parser.parse_args(argv)

    files = sorted(p for p in args.dataset.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        print(f"error: {args.dataset}: no audio files", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows, missed = {}, []
    for f in files:
        group = f.relative_to(args.dataset).parts[0]
        kept = vad.is_speech(audio.load_audio(f))
        n, k = rows.get(group, (0, 0))
        rows[group] = (n + 1, k + kept)
        if not kept:
            missed.append(f)
    corpus_seconds = time.perf_counter() - start

    generated, wrong = {}, []
    for seed in range(args.seeds):
        for name, y in nonspeech_signals(seed).items():
            rejected = not vad.is_speech(y)
            n, r = generated.get(category(name), (0, 0))
            generated[category(name)] = (n + 1, r + rejected)
            if not rejected:
                wrong.append(f"{name} (seed {seed})")

    n_files, n_kept = len(files), len(files) - len(missed)
    n_gen = sum(n for n, _ in generated.values())
    n_rej = n_gen - len(wrong)
    print("| audio | files or signals | judged speech | rate |")
    print("|---|---|---|---|")
    for group, (n, k) in sorted(rows.items()):
        print(f"| {group} (speech) | {n} | {k} | {k / n:.2%} kept |")
    print(f"| **all corpus files** | **{n_files}** | **{n_kept}** | **{n_kept / n_files:.2%} kept** |")
    for cat, (n, r) in generated.items():
        print(f"| {cat} | {n} | {n - r} | {r / n:.1%} rejected |")
    print(f"| **all generated non-speech** | **{n_gen}** | **{n_gen - n_rej}** | **{n_rej / n_gen:.1%} rejected** |")
    print(f"\n{n_files} files in {corpus_seconds:.0f} s ({1000 * corpus_seconds / n_files:.1f} ms per file, "
          "load and decide); thresholds in vad.py")
    for f in missed:
        print(f"missed speech: {f}")
    for name in wrong:
        print(f"called speech: {name}")
    ok = n_kept / n_files >= KEEP_TARGET and n_rej / n_gen >= REJECT_TARGET
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
