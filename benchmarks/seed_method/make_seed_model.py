"""Train the seed architecture on the seed's own features, for the benchmarks' seed prediction path.

    python benchmarks/seed_method/make_seed_model.py --dataset ../shared/datasets   # -> seed_model.keras (about 2 min)

Featurizes every corpus file the seed's way (create_features.py here: librosa 22050 Hz, mean of 40
MFCCs), then trains model.build("seed") (Conv1D(64, 5), Dropout, Dense(8) softmax, RMSprop) for
the seed's 50 epochs, batch 16, and saves it beside this script. Only its run time matters to the
benchmarks; it is trained so that the seed path predicts something real.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))
import create_features as seed_create_features  # noqa: E402  (the seed's, in this folder)

# Where the model goes, and the seed's training schedule.
MODEL_PATH = HERE / "seed_model.keras"
EPOCHS = 50
BATCH_SIZE = 16
SEED = 42


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("RAVDESS+TESS_Dataset"), help="corpora folder")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="training epochs")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="model file to write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        seed_create_features.main(["--dataset", str(args.dataset), "--out", tmp])
        X, y = joblib.load(Path(tmp) / "X.joblib"), joblib.load(Path(tmp) / "y.joblib")
    import keras
    import model as model_lib

    keras.utils.set_random_seed(SEED)
    net = model_lib.build("seed")
    hist = net.fit(np.expand_dims(X, axis=2), y, epochs=args.epochs, batch_size=BATCH_SIZE, verbose=0)
    net.save(args.out)
    print(f"trained on {len(y)} files, {args.epochs} epochs, final training accuracy "
          f"{hist.history['accuracy'][-1]:.3f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
