#!/usr/bin/env python3
"""Checks that the task-YAML corpus under tests/yaml/ is well-formed.

This checks the corpus itself, not a loader:

* every file in valid/, invalid/ and extensions/ is named NN-short-name.yaml, and the
  numbers are unique within each directory;
* header comments are known, well-formed and not repeated where they must
  be unique (see README.md for their meaning);
* every valid (and extensions/) file parses as YAML, each document is a mapping, and the
  number of tasks matches `# dag-tasks:` (1 when absent);
* every needs-env / needs-secret name is declared with a null value in the
  file's envs / secrets;
* every invalid file has `# expect-path:` and `# expect-line:`; when the
  path is not empty it resolves in the YAML (in the document named by
  `# expect-document:`, default 1) and the expected line is the line of
  the last key on the path (for a trailing [N], the line of item N); when
  the path is empty, the expected line is where PyYAML reports the syntax
  error, where the (non-mapping) top-level node starts, or 1 when the file
  holds no document.

Uses only the standard library and PyYAML. Exit status 0 when the corpus is
well-formed, 1 otherwise.

Usage: python3 tests/yaml/check_corpus.py [CORPUS_DIR]
"""

import os
import re
import sys

import yaml

NAME_RE = re.compile(r"^(\d{2,3})-[a-z0-9]+(?:-[a-z0-9]+)*\.yaml$")
HEADER_RE = re.compile(r"^#\s*([a-z][a-z-]*):(.*)$")
KNOWN_HEADERS = {
    "needs-env",
    "needs-secret",
    "dag-tasks",
    "expect-path",
    "expect-suggestion",
    "expect-line",
    "expect-document",
}
UNIQUE_HEADERS = KNOWN_HEADERS - {"needs-env", "needs-secret"}
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SEGMENT_RE = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)$")


def read_headers(text):
    """Returns {header: [values]} from the leading comment block."""
    headers = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        match = HEADER_RE.match(stripped)
        if match and match.group(1) in KNOWN_HEADERS:
            headers.setdefault(match.group(1), []).append(match.group(2).strip())
    return headers


def split_path(path):
    """'resources.any_of[1].cpus' -> ['resources', 'any_of', 1, 'cpus']."""
    steps = []
    for segment in path.split("."):
        match = SEGMENT_RE.match(segment)
        if not match or (not match.group(1) and not match.group(2)):
            raise ValueError(f"bad path segment {segment!r}")
        if match.group(1):
            steps.append(match.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return steps


def resolve_lines(node, steps):
    """Returns the set of 1-based lines the last step of the path may be on.

    A key that appears more than once (a duplicate key) yields every line it
    appears on. Raises KeyError when the path does not resolve.
    """
    candidates = [(node, None)]
    for step in steps:
        next_candidates = []
        for current, _ in candidates:
            if isinstance(step, int):
                if isinstance(current, yaml.SequenceNode) and step < len(current.value):
                    item = current.value[step]
                    next_candidates.append((item, item.start_mark.line + 1))
            elif isinstance(current, yaml.MappingNode):
                for key, value in current.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == step:
                        next_candidates.append((value, key.start_mark.line + 1))
        if not next_candidates:
            raise KeyError(step)
        candidates = next_candidates
    return {line for _, line in candidates if line is not None}


def check_name(fname, seen, errors, where):
    match = NAME_RE.match(fname)
    if not match:
        errors.append(f"{where}: file name is not NN-short-name.yaml")
        return
    number = int(match.group(1))
    if number in seen:
        errors.append(f"{where}: number {number} also used by {seen[number]}")
    seen[number] = fname


def check_header_shapes(headers, errors, where):
    for name in UNIQUE_HEADERS:
        if len(headers.get(name, [])) > 1:
            errors.append(f"{where}: '# {name}:' given more than once")
    for name in ("needs-env", "needs-secret"):
        for value in headers.get(name, []):
            key, sep, _ = value.partition("=")
            if not sep or not ENV_NAME_RE.match(key):
                errors.append(f"{where}: '# {name}: {value}' is not NAME=value")
    for name in ("dag-tasks", "expect-line", "expect-document"):
        for value in headers.get(name, []):
            if not value.isdigit() or int(value) < 1:
                errors.append(f"{where}: '# {name}: {value}' is not a positive integer")


def check_null_declared(docs, headers, errors, where):
    """needs-env / needs-secret names must be null-valued in some document."""
    for header, section in (("needs-env", "envs"), ("needs-secret", "secrets")):
        for value in headers.get(header, []):
            name = value.partition("=")[0]
            declared = any(
                isinstance(doc, dict)
                and isinstance(doc.get(section), dict)
                and name in doc[section]
                and doc[section][name] is None
                for doc in docs
            )
            if not declared:
                errors.append(f"{where}: {header} {name} is not a null entry of {section}")


def count_tasks(docs):
    docs = [d for d in docs if d is not None]
    # A pipeline header: `name`, and optionally `execution: serial`.
    if len(docs) > 1 and "name" in docs[0] and set(docs[0].keys()) <= {"name", "execution"}:
        return len(docs) - 1
    return len(docs)


def check_valid(text, headers, errors, where):
    for name in headers:
        if name.startswith("expect-"):
            errors.append(f"{where}: valid file has '# {name}:'")
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        errors.append(f"{where}: does not parse as YAML: {exc}")
        return
    if not docs or all(d is None for d in docs):
        errors.append(f"{where}: no YAML document")
        return
    for i, doc in enumerate(docs, 1):
        if doc is not None and not isinstance(doc, dict):
            errors.append(f"{where}: document {i} is not a mapping")
            return
    expected = int(headers.get("dag-tasks", ["1"])[0] or 0)
    got = count_tasks(docs)
    if got != expected:
        errors.append(f"{where}: {got} task(s), dag-tasks says {expected}")
    if "dag-tasks" in headers and got < 2:
        errors.append(f"{where}: dag-tasks given for a single-task file")
    check_null_declared(docs, headers, errors, where)


def check_invalid(text, headers, errors, where):
    if "expect-path" not in headers:
        errors.append(f"{where}: missing '# expect-path:'")
        return
    if "expect-line" not in headers:
        errors.append(f"{where}: missing '# expect-line:'")
        return
    if "dag-tasks" in headers:
        errors.append(f"{where}: invalid file has '# dag-tasks:'")
    expect_path = headers["expect-path"][0]
    suggestion = headers.get("expect-suggestion", [None])[0]
    if suggestion == "":
        errors.append(f"{where}: empty '# expect-suggestion:' (omit the line instead)")
    try:
        expect_line = int(headers["expect-line"][0])
    except ValueError:
        return  # reported by check_header_shapes
    document = int(headers.get("expect-document", ["1"])[0] or 1)

    try:
        nodes = list(yaml.compose_all(text))
        syntax_error = None
    except yaml.YAMLError as exc:
        nodes = None
        syntax_error = exc

    if syntax_error is not None:
        if expect_path:
            errors.append(f"{where}: YAML syntax error but expect-path is not empty")
            return
        mark = getattr(syntax_error, "problem_mark", None)
        if mark is None or mark.line + 1 != expect_line:
            got = None if mark is None else mark.line + 1
            errors.append(f"{where}: syntax error at line {got}, expect-line {expect_line}")
        return

    if not nodes and not expect_path:
        # No document at all (an empty file): the error is about the whole file.
        if expect_line != 1:
            errors.append(f"{where}: no YAML document, so expect-line must be 1")
        return
    if document > len(nodes):
        errors.append(f"{where}: expect-document {document} but {len(nodes)} document(s)")
        return
    node = nodes[document - 1]
    if not expect_path:
        if node is None:
            errors.append(f"{where}: empty expect-path on an empty document")
        elif isinstance(node, yaml.MappingNode):
            errors.append(f"{where}: empty expect-path but the top level is a mapping")
        elif node.start_mark.line + 1 != expect_line:
            errors.append(
                f"{where}: top-level node at line {node.start_mark.line + 1}, "
                f"expect-line {expect_line}"
            )
        return
    try:
        lines = resolve_lines(node, split_path(expect_path))
    except (KeyError, ValueError) as exc:
        errors.append(f"{where}: expect-path {expect_path!r} does not resolve ({exc})")
        return
    if expect_line not in lines:
        errors.append(
            f"{where}: expect-path {expect_path!r} is on line(s) {sorted(lines)}, "
            f"expect-line {expect_line}"
        )


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    errors = []
    counts = {}
    for kind in ("valid", "invalid", "extensions"):
        directory = os.path.join(root, kind)
        if not os.path.isdir(directory):
            if kind != "extensions":
                errors.append(f"{kind}/: missing directory")
            continue
        seen = {}
        files = sorted(f for f in os.listdir(directory) if not f.startswith("."))
        counts[kind] = len(files)
        for fname in files:
            where = f"{kind}/{fname}"
            check_name(fname, seen, errors, where)
            path = os.path.join(directory, fname)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            headers = read_headers(text)
            check_header_shapes(headers, errors, where)
            if kind in ("valid", "extensions"):
                check_valid(text, headers, errors, where)
            else:
                check_invalid(text, headers, errors, where)
    for error in errors:
        print(f"ERROR {error}")
    print(
        f"corpus: {counts.get('valid', 0)} valid, {counts.get('invalid', 0)} invalid, "
        f"{counts.get('extensions', 0)} extensions, {len(errors)} problem(s)"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
