"""The offline verifier: checks each node's chain across files (or the PostgreSQL sink's rows) with the
audit public key alone: no server, no database for files, no root key (docs/audit.md, "Verifying").

Per node, records must run seq 0, 1, 2, ... with each ``prev`` equal to the SHA-256 of the previous line,
and every checkpoint must carry a valid Ed25519 signature by a trusted key (the keys given, plus a key a
valid checkpoint hands over to with ``next_key``). The first break is named:

- ``modified``: a record's hash does not match the next record's ``prev``;
- ``deleted``: seq numbers skip inside a file; ``missing file``: they skip between two files;
- ``reordered``: a seq appears later than a higher one; ``inserted``: a seq repeats or goes back;
- ``forged checkpoint``: a checkpoint whose signature does not verify or whose key is not trusted;
- ``malformed``: a line that is not an audit record.

Not tampering, but not proven either: the records after the last valid checkpoint ("unsigned tail of N
records") and an incomplete last line ("torn tail": a crash during a write). Exit status: 0 everything
verified, 1 tampering (or a chain that does not start at seq 0), 2 only an unsigned or torn tail.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pyehsm.audit.keys import key_id, load_public_key
from pyehsm.audit.record import CHECKPOINT, GENESIS, Record, checkpoint_message, decoder, digest

OK, TAMPERED, UNPROVEN = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Line:
    source: str  # a file name, or "postgresql node X"
    number: int  # 1-based line (or row) number in its source
    raw: bytes


@dataclass
class Source:
    name: str
    lines: list[Line]
    torn: int = 0  # bytes of an incomplete last line


@dataclass
class NodeReport:
    node: str
    records: int = 0
    verified: int = 0  # records covered by a valid checkpoint
    last_seq: int = -1
    problem: str = ""  # the first tampering found ("" none)
    unsigned: int = 0
    torn: int = 0
    keys: list[str] = field(default_factory=list)  # ids of the keys that signed

    @property
    def status(self) -> int:
        if self.problem:
            return TAMPERED
        return UNPROVEN if self.unsigned or self.torn else OK

    def summary(self) -> list[str]:
        lines = []
        if self.problem:
            lines.append(f"node {self.node}: TAMPERED: {self.problem}")
        else:
            lines.append(
                f"node {self.node}: {self.verified} of {self.records} records verified (seq 0..{self.last_seq})"
            )
        if self.unsigned and not self.problem:
            lines.append(f"node {self.node}: unsigned tail of {self.unsigned} records (after the last checkpoint)")
        if self.torn:
            lines.append(
                f"node {self.node}: torn tail: an incomplete last record of {self.torn} bytes (a crash during a write)"
            )
        return lines


@dataclass
class Report:
    nodes: list[NodeReport]
    problems: list[str]  # tampering not tied to one node (a malformed line)

    @property
    def status(self) -> int:
        if self.problems:
            return TAMPERED
        return max((n.status for n in self.nodes), default=TAMPERED if not self.nodes else OK)

    def lines(self) -> list[str]:
        out = [f"TAMPERED: {p}" for p in self.problems]
        for node in self.nodes:
            out.extend(node.summary())
        if not self.nodes and not self.problems:
            out.append("no audit records found")
        return out


def read_file(path: str) -> Source:
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(b"\n")
    torn = len(parts[-1])
    lines = [Line(path, i + 1, raw) for i, raw in enumerate(parts[:-1])]
    return Source(path, lines, torn)


def trusted_keys(texts: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for text in texts:
        key = load_public_key(text)
        from pyehsm.audit.keys import public_key_text

        keys[key_id(public_key_text(key))] = key
    return keys


def verify_sources(sources: list[Source], public_keys: dict[str, Ed25519PublicKey]) -> Report:
    """Verify every node's chain found in ``sources`` (files in any order; rotated files are put in chain order)."""
    problems: list[str] = []
    streams: dict[str, list[tuple[Line, Record, bool]]] = {}  # node -> records, flag: first in its source
    torn: dict[str, int] = {}
    firsts: dict[tuple[str, str], int] = {}  # (node, source) -> seq of the first record: orders the sources
    per_source: list[tuple[Source, dict[str, list[tuple[Line, Record]]]]] = []
    for source in sources:
        nodes: dict[str, list[tuple[Line, Record]]] = {}
        for line in source.lines:
            try:
                rec = decoder.decode(line.raw)
            except Exception:
                problems.append(f"malformed: {line.source} line {line.number} is not an audit record (modified)")
                continue
            nodes.setdefault(rec.node, []).append((line, rec))
            firsts.setdefault((rec.node, source.name), rec.seq)
        per_source.append((source, nodes))
    order = sorted(per_source, key=lambda item: min((recs[0][1].seq for recs in item[1].values()), default=0))
    last_source_of: dict[str, str] = {}
    for source, nodes in order:
        for node, recs in nodes.items():
            stream = streams.setdefault(node, [])
            stream.extend((line, rec, i == 0) for i, (line, rec) in enumerate(recs))
            last_source_of[node] = source.name
    for source in sources:
        if source.torn:
            owners = [n for n, s in last_source_of.items() if s == source.name]
            if source is not order[-1][0] and not owners:
                problems.append(f"malformed: {source.name} ends with an incomplete line")
            for node in owners or [""]:
                torn[node] = torn.get(node, 0) + source.torn
    reports = [_verify_chain(node, stream, public_keys) for node, stream in sorted(streams.items())]
    for report in reports:
        report.torn = torn.pop(report.node, 0)
    if torn.get(""):
        reports.append(NodeReport("?", torn=torn[""]))
    return Report(reports, problems)


def _where(line: Line) -> str:
    return f"{line.source} line {line.number}"


def _verify_chain(
    node: str, stream: list[tuple[Line, Record, bool]], public_keys: dict[str, Ed25519PublicKey]
) -> NodeReport:
    report = NodeReport(node, records=len(stream))
    trusted = dict(public_keys)
    expected_seq, expected_prev = 0, GENESIS
    previous: Line | None = None
    since_checkpoint = 0
    for index, (line, rec, _) in enumerate(stream):
        if rec.seq != expected_seq:
            report.problem = _sequence_problem(stream, index, expected_seq, previous)
            return report
        if rec.prev != expected_prev:
            if previous is None:
                report.problem = (
                    f"modified: {_where(line)} (seq {rec.seq}) does not start the chain (prev is not the genesis value)"
                )
            else:
                report.problem = (
                    f"modified: the record at {_where(previous)} (seq {rec.seq - 1}) was modified: "
                    f"its hash does not match the prev of seq {rec.seq} ({_where(line)})"
                )
            return report
        since_checkpoint += 1
        if rec.kind == CHECKPOINT:
            problem = _check_signature(rec, trusted)
            if problem:
                report.problem = f"forged checkpoint: {_where(line)} (seq {rec.seq}): {problem}"
                return report
            if rec.key and rec.key not in report.keys:
                report.keys.append(rec.key)
            if rec.next_key:
                new = load_public_key(rec.next_key)
                trusted[key_id(rec.next_key)] = new
            report.verified = index + 1
            since_checkpoint = 0
        expected_seq, expected_prev = rec.seq + 1, digest(line.raw)
        previous = line
        report.last_seq = rec.seq
    report.unsigned = since_checkpoint
    return report


def _sequence_problem(stream: list[tuple[Line, Record, bool]], index: int, expected: int, previous: Line | None) -> str:
    line, rec, first_in_source = stream[index]
    if rec.seq > expected:
        later = [ln for ln, r, _ in stream[index + 1 :] if r.seq == expected]
        if later:
            return f"reordered: seq {expected} appears at {_where(later[0])}, after seq {rec.seq} at {_where(line)}"
        if previous is None:
            return (
                f"deleted: the chain starts at seq {rec.seq} ({_where(line)}): "
                f"records 0..{rec.seq - 1} (or the files holding them) are missing"
            )
        if first_in_source and previous.source != line.source:
            return (
                f"missing file: records seq {expected}..{rec.seq - 1} are missing between "
                f"{previous.source} and {line.source} (a file missing from the middle)"
            )
        return f"deleted: records seq {expected}..{rec.seq - 1} were deleted (before {_where(line)})"
    seen = [ln for ln, r, _ in stream[:index] if r.seq == rec.seq]
    if seen:
        return f"inserted: {_where(line)} repeats seq {rec.seq} (first at {_where(seen[0])})"
    return f"inserted: {_where(line)} has seq {rec.seq} where seq {expected} belongs"


def _check_signature(rec: Record, trusted: dict[str, Ed25519PublicKey]) -> str:
    if not rec.key or not rec.sig or rec.count is None:
        return "no signature"
    key = trusted.get(rec.key)
    if key is None:
        return f"signed by key {rec.key}, which is not a trusted audit public key"
    message = checkpoint_message(rec.node, rec.seq, rec.prev, rec.time, rec.key, rec.count, rec.next_key or "")
    try:
        key.verify(base64.b64decode(rec.sig, validate=True), message)
    except (InvalidSignature, ValueError):
        return f"the signature does not verify with key {rec.key}"
    return ""


def verify_files(paths: list[str], public_keys: Iterable[str]) -> Report:
    return verify_sources([read_file(p) for p in paths], trusted_keys(public_keys))
