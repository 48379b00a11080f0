"""The seed project's prediction path, as it did it: import keras, load_model, librosa.load, mean MFCCs.

    python benchmarks/seed_method/live_predictions.py examples/03-01-05-02-01-01-13.wav
    python benchmarks/seed_method/live_predictions.py some_folder/        # file after file, one process

Kept only as the reference the benchmarks measure ours against (predict_cold.py, batch.py).
Faithful to the seed's live_predictions.py: ``import keras``, ``keras.models.load_model``,
``librosa.load(path)`` (22050 Hz), the mean of 40 MFCCs, ``model.predict`` on (1, 40, 1), one
file at a time. (The seed called ``predict_classes``, which Keras 3 no longer has; ``predict``
then argmax is what it did.) The model is seed_model.keras: the seed architecture trained on these
very features by make_seed_model.py.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet logs only; TensorFlow otherwise as the seed ran it

import keras  # noqa: E402
import librosa  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from corpus import EMOTIONS  # noqa: E402  (the seed's label order: RAVDESS codes 01..08)

# The seed-architecture model trained on the seed's features (see make_seed_model.py).
MODEL_PATH = Path(__file__).resolve().parent / "seed_model.keras"


class LivePredictions:
    """The seed's class: load the model once, then predict a file."""

    def __init__(self, file):
        self.file = file
        self.path = str(MODEL_PATH)
        self.loaded_model = keras.models.load_model(self.path)

    def make_predictions(self):
        data, sampling_rate = librosa.load(self.file)
        mfccs = np.mean(librosa.feature.mfcc(y=data, sr=sampling_rate, n_mfcc=40).T, axis=0)
        x = np.expand_dims(mfccs, axis=1)
        x = np.expand_dims(x, axis=0)
        probs = self.loaded_model.predict(x, verbose=0)[0]
        print(f"{self.file}: {EMOTIONS[int(np.argmax(probs))]} ({probs.max():.2f})")
        return probs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    files = []
    for p in map(Path, argv):
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    if not files:
        print("usage: live_predictions.py FILE_OR_FOLDER ...", file=sys.stderr)
        return 1
    live = LivePredictions(str(files[0]))
    for f in files:
        live.file = str(f)
        live.make_predictions()
    return 0


if __name__ == "__main__":
    sys.exit(main())
