#!/usr/bin/python3
"""score.py - compare `pgscope check --format json` findings with the corpus annotations.

Each case in tests/rules/cases/*.sql starts at a comment line
`-- expect: rule-a, rule-b` (or `-- expect: none`) and runs to the next one.
A case may also hold `-- suggest: TEXT` lines: some finding of the case must
carry exactly that suggestion (index advice is checked word for word). A
finding belongs to the case whose line range holds its line. Per rule:
precision = TP / (TP + FP) and recall = TP / (TP + FN), counted per case (a
rule reported twice in one case counts once). Exits 1 when any rule is below
the gate, when a finding falls outside every case, when a case did not
parse (syntax-error), or when the corpus shrinks below 300 cases or has
fewer cases expecting nothing than cases expecting findings.

usage: score.py FINDINGS.json GATE CASE.sql...
"""
import json
import re
import sys

EXPECT = re.compile(r"^\s*--\s*expect:\s*(.*?)\s*$")
SUGGEST = re.compile(r"^\s*--\s*suggest:\s*(.*?)\s*$")
ENGINE_IGNORED = {"unused-suppression"}
# The corpus must stay broad: this many cases, and at least as many negatives as positives.
MIN_CASES = 300


def load_cases(paths):
    cases = []  # (file, start, end, expected set)
    for path in paths:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        starts = []
        for i, line in enumerate(lines, 1):
            m = EXPECT.match(line)
            if m:
                body = m.group(1).strip()
                ids = set() if body == "none" else {x.strip() for x in body.split(",") if x.strip()}
                starts.append((i, ids))
        for k, (start, ids) in enumerate(starts):
            end = starts[k + 1][0] - 1 if k + 1 < len(starts) else len(lines)
            suggest = [m.group(1) for m in (SUGGEST.match(x) for x in lines[start - 1:end]) if m]
            cases.append({"file": path, "start": start, "end": end, "expect": ids, "got": set(),
                          "suggest": suggest, "suggestions": []})
    return cases


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    findings = json.load(open(sys.argv[1], encoding="utf-8"))["findings"]
    gate = float(sys.argv[2])
    cases = load_cases(sys.argv[3:])
    by_file = {}
    for c in cases:
        by_file.setdefault(c["file"], []).append(c)
    problems = []
    for f in findings:
        if f["rule"] in ENGINE_IGNORED:
            continue
        owner = None
        for c in by_file.get(f["file"], []):
            if c["start"] <= f["line"] <= c["end"]:
                owner = c
                break
        if owner is None:
            problems.append("%s:%s: %s outside any case" % (f["file"], f["line"], f["rule"]))
            continue
        owner["got"].add(f["rule"])
        if f.get("suggestion"):
            owner["suggestions"].append(f["suggestion"])
    rules = set()
    for c in cases:
        rules |= c["expect"] | c["got"]
    stats = {r: [0, 0, 0] for r in rules}  # tp, fp, fn
    mismatches = []
    for c in cases:
        for r in rules:
            e, g = r in c["expect"], r in c["got"]
            if e and g:
                stats[r][0] += 1
            elif g:
                stats[r][1] += 1
            elif e:
                stats[r][2] += 1
        if c["expect"] != c["got"]:
            mismatches.append(c)
    n_suggest = 0
    for c in cases:
        for want in c["suggest"]:
            n_suggest += 1
            if want not in c["suggestions"]:
                problems.append("%s:%d: no finding suggests `%s` (got %s)" % (c["file"], c["start"], want, c["suggestions"] or "none"))
    n_pos_all = sum(1 for c in cases if c["expect"])
    if len(cases) < MIN_CASES:
        problems.append("only %d cases (at least %d)" % (len(cases), MIN_CASES))
    if len(cases) - n_pos_all < n_pos_all:
        problems.append("fewer cases expecting nothing (%d) than expecting findings (%d)"
                        % (len(cases) - n_pos_all, n_pos_all))
    if "syntax-error" in rules:
        problems.append("a case does not parse (syntax-error findings)")
    ok = not problems
    n_pos = sum(1 for c in cases if c["expect"])
    print("cases: %d (expecting findings: %d, expecting none: %d); exact suggestions checked: %d"
          % (len(cases), n_pos, len(cases) - n_pos, n_suggest))
    print("%-28s %5s %5s %5s %10s %8s" % ("rule", "tp", "fp", "fn", "precision", "recall"))
    for r in sorted(rules):
        tp, fp, fn = stats[r]
        prec = tp / (tp + fp) if tp + fp else 1.0
        rec = tp / (tp + fn) if tp + fn else 1.0
        bad = prec < gate or rec < gate
        ok = ok and not bad
        print("%-28s %5d %5d %5d %10.3f %8.3f%s" % (r, tp, fp, fn, prec, rec, "  FAIL" if bad else ""))
    for c in mismatches:
        missing = sorted(c["expect"] - c["got"])
        extra = sorted(c["got"] - c["expect"])
        print("mismatch %s:%d: missing %s extra %s" % (c["file"], c["start"], missing or "-", extra or "-"))
    for p in problems:
        print("error: " + p)
    print("corpus gate (precision and recall >= %.2f per rule): %s" % (gate, "PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
