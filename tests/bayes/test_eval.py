"""scripts/eval end to end on fixtures it can always have: learn one set of
synthetic mail, scan another through a private smfd, check the figures and the
files it writes. Needs python3-numpy and python3-matplotlib (scripts/setup)."""
import argparse
import csv
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import fixtures

ARGS = {}


class EvalTrainTest(unittest.TestCase):
    def setUp(self):
        try:
            import matplotlib  # noqa: F401
            import numpy  # noqa: F401
        except ImportError:
            self.skipTest("python3-numpy or python3-matplotlib missing: run scripts/setup")
        self.tmp = tempfile.mkdtemp(prefix="smf-eval-test-")
        fixtures.write_all(os.path.join(self.tmp, "train"), seed=1)
        fixtures.write_all(os.path.join(self.tmp, "test"), seed=2)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_train_test_split(self):
        out = os.path.join(self.tmp, "out")
        p = subprocess.run([sys.executable, os.path.join(ARGS["source"], "scripts", "eval"),
                            "--build", ARGS["build"], "--train", os.path.join(self.tmp, "train"),
                            "--test", os.path.join(self.tmp, "test"), "--bayes", "min_learned=10",
                            "--out", out], capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("30 spam, 30 ham scanned", p.stdout)
        self.assertRegex(p.stdout, r"spam recall +100\.00% \[88\.65, 100\.00\]")
        self.assertRegex(p.stdout, r"false-positive rate +0\.00% \[0\.00, 11\.35\]")
        # With 30 ham, 0.1% allows none: the line is the top ham, as for zero FP.
        self.assertRegex(p.stdout, r"recall at FP <= 0\.1% +100\.00% \[88\.65, 100\.00\]  "
                                   r"\(30 of 30 above the ham ranked 1, -?[0-9.]+; 0 ham allowed\)")
        self.assertIn("learned 60 in", p.stderr)
        with open(os.path.join(out, "scores.tsv")) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        self.assertEqual(len(rows), 60)
        # Every scanned message carries the classifier's view, learned from the other set.
        for r in rows:
            p_spam = float(r["bayes_p"])
            self.assertTrue(p_spam > 0.9 if r["class"] == "spam" else p_spam < 0.1, r)
        # symbols.tsv lists every symbol, with its module and score, for retuning offline.
        with open(os.path.join(out, "symbols.tsv")) as f:
            syms = list(csv.DictReader(f, delimiter="\t"))
        self.assertEqual(len(syms), 60)
        for r in syms:
            self.assertRegex(r["symbols"], r"(^| )bayes:BAYES_(SPAM|HAM)=-?[0-9.]+( |$)")
        self.assertGreater(os.path.getsize(os.path.join(out, "roc.png")), 1000)
        self.assertEqual(os.path.getsize(os.path.join(out, "misclassified.txt")), 0)
        # summary.json holds the printed figures, unrounded, for scripts.
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual((summary["spam"], summary["ham"]), (30, 30))
        self.assertEqual(summary["engine"]["spam recall at the policy"], 1.0)
        self.assertEqual(summary["engine"]["false-positive rate"], 0.0)
        self.assertEqual(summary["engine"]["recall at FP <= 0.1%"], 1.0)

    def load_eval(self):
        """scripts/eval as a module, for its functions."""
        spec = importlib.util.spec_from_loader(
            "smf_eval", importlib.machinery.SourceFileLoader(
                "smf_eval", os.path.join(ARGS["source"], "scripts", "eval")))
        ev = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ev)
        return ev

    def test_recall_at_fp_budget(self):
        ev = self.load_eval()
        ham = [9.0, 7.0, 5.0, 5.0, 1.0] + [0.0] * 995  # 1,000 ham
        spam = [10.0, 8.0, 6.0, 5.0, 4.0]
        # 0.1% of 1,000 ham lets one through: the line is the second ham, 7.
        self.assertEqual(ev.recall_at_fp(spam, ham, 0.001), (2, 5, 1, 7.0))
        # 0.3% lets three through, but the third and fourth tie at 5: spam must be above
        # 5, so only the two ham above it are caught.
        self.assertEqual(ev.recall_at_fp(spam, ham, 0.003), (3, 5, 3, 5.0))
        self.assertEqual(ev.recall_at_fp(spam, ham, 0.0), (1, 5, 0, 9.0))

    def test_misclassified_names_what_pulled_the_classifier(self):
        ev = self.load_eval()
        rep = {"action": "quarantine", "score": 20.5, "symbols": [
            {"name": "BAYES_SPAM", "score": 18.5, "module": "bayes",
             "detail": 'p=0.999 (words 0.99, weights 0.99); spam: body "free" +1.20'},
            {"name": "PAT_CLICK_HERE", "score": 2.0, "module": "pattern"}]}
        row = ev.result_row(rep)
        self.assertEqual(row["p"], 0.999)
        self.assertEqual(row["why"], 'spam: body "free" +1.20')
        out = os.path.join(self.tmp, "out")
        ham = os.path.join(self.tmp, "ham-1.eml")
        wrong = ev.write_outputs(argparse.Namespace(out=out), {ham: row}, {ham: False})
        self.assertEqual(len(wrong), 1)
        with open(os.path.join(out, "misclassified.txt")) as f:
            text = f.read()
        self.assertIn("FP   quarantine   20.50  " + ham, text)
        self.assertIn("BAYES_SPAM(18.5) PAT_CLICK_HERE(2)", text)
        self.assertIn('      bayes spam: body "free" +1.20\n', text)

    def test_as_mta_scans_copies_without_delivery_fields(self):
        ev = self.load_eval()
        raw = (b"From bounce@example.net Mon Jan  1 00:00:00 2024\n"
               b"Return-Path: <bounce@example.net>\nDelivered-To: user@example.com\n"
               b"\tfolded\nReceived: from a by b\nX-Keywords: NonJunk\nStatus: RO\n"
               b"Delivery-Date: Mon, 01 Jan 2024 00:00:00 +0000\n"
               b"Subject: hello\n\nStatus: a body line stays\n")
        self.assertEqual(ev.as_mta(raw), b"Received: from a by b\nSubject: hello\n\n"
                                         b"Status: a body line stays\n")
        # End to end: the report names the original files, not the copies.
        out = os.path.join(self.tmp, "out")
        p = subprocess.run([sys.executable, os.path.join(ARGS["source"], "scripts", "eval"),
                            "--build", ARGS["build"], "--train", os.path.join(self.tmp, "train"),
                            "--test", os.path.join(self.tmp, "test"), "--bayes", "min_learned=10",
                            "--as-mta", "--out", out], capture_output=True, text=True,
                           timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "scores.tsv")) as f:
            files = [r["file"] for r in csv.DictReader(f, delimiter="\t")]
        self.assertEqual(len(files), 60)
        self.assertTrue(all(f.startswith(os.path.join(self.tmp, "test")) for f in files), files[0])

    def test_a_classifier_below_min_learned_has_no_figures(self):
        # 30 of each class is below the module's min_learned (200): the classifier never
        # scores, so the report says so instead of an AUC of 0.5 for "bayes alone".
        out = os.path.join(self.tmp, "out")
        p = subprocess.run([sys.executable, os.path.join(ARGS["source"], "scripts", "eval"),
                            "--build", ARGS["build"], "--train", os.path.join(self.tmp, "train"),
                            "--test", os.path.join(self.tmp, "test"), "--out", out],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("bayes: NOT ACTIVE in any run: it scores only once it has learned "
                      "min_learned = 200 spam and 200 ham, and those runs learned 30 spam and "
                      "30 ham", p.stdout)
        self.assertNotIn("bayes alone (", p.stdout)
        self.assertNotIn("engine without bayes (", p.stdout)
        self.assertNotIn("bayes stage time", p.stdout)
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual((summary["bayes_active_runs"], summary["runs"]), (0, 1))

    def test_seeds_repeat_the_folds_with_other_assignments(self):
        out = os.path.join(self.tmp, "out")
        p = subprocess.run([sys.executable, os.path.join(ARGS["source"], "scripts", "eval"),
                            "--build", ARGS["build"], "--folds", "2", "--seeds", "1,2",
                            "--bayes", "min_learned=10", "--out", out,
                            os.path.join(self.tmp, "train")],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("== fold seed 1\n", p.stdout)
        self.assertIn("== fold seed 2\n", p.stdout)
        self.assertIn("engine over fold seeds 1, 2 (median [lowest, highest]):", p.stdout)
        self.assertRegex(p.stdout, r"spam recall at the policy +100\.00% \[100\.00, 100\.00\]")
        self.assertRegex(p.stdout, r"ROC AUC +1\.00000 \[1\.00000, 1\.00000\]")
        folds = []
        for seed in (1, 2):
            with open(os.path.join(out, "seed-%d" % seed, "scores.tsv")) as f:
                folds.append({r["file"]: r["fold"] for r in csv.DictReader(f, delimiter="\t")})
        self.assertEqual(sorted(folds[0]), sorted(folds[1]))
        self.assertEqual(len(folds[0]), 60)
        # Each seed is its own assignment of the messages to folds.
        self.assertNotEqual(folds[0], folds[1])

    def test_refuses_a_folder_without_classes(self):
        os.makedirs(os.path.join(self.tmp, "empty"))
        p = subprocess.run([sys.executable, os.path.join(ARGS["source"], "scripts", "eval"),
                            "--build", ARGS["build"], "--folds", "3",
                            os.path.join(self.tmp, "empty")], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("has no ham/ folder", p.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    args, rest = ap.parse_known_args()
    ARGS.update({k: os.path.abspath(v) for k, v in vars(args).items()})
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
