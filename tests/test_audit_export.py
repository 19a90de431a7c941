"""The audit chain as a file: `export_audit --format jsonl` and /audit.jsonl, checked by the
stand-alone tools/verify_audit_export.py (standard library only), which must fail after any
one-byte change of the file."""

import importlib.util
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import GENESIS_HASH, AuditAction, AuditChainHead, AuditEvent
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "verify_audit_export.py"


def _tool():
    spec = importlib.util.spec_from_file_location("verify_audit_export", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export(*args) -> tuple[bytes, str]:
    out, err = StringIO(), StringIO()
    call_command("export_audit", "--format", "jsonl", *args, stdout=out, stderr=err)
    return out.getvalue().encode("ascii"), err.getvalue()


def head_hash() -> str:
    return AuditChainHead.objects.get(pk=1).hash


def run_tool(path: Path, *args) -> subprocess.CompletedProcess:
    # -I: isolated, so nothing of the portal (its virtualenv, its path) helps the tool.
    return subprocess.run(
        [sys.executable, "-I", str(TOOL), str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def records():
    """Records with what makes canonical forms hard: non-ASCII text, IPv6, numbers, JSON."""
    AuditEventFactory(key_description="Café “prod” ✓", ip="2001:db8::1")
    AuditEventFactory(
        action=AuditAction.KEY_CREATED,
        changes={"usd": [10.5, 20], "expires_at": [None, "2026-12-31T00:00:00Z"]},
        details={"rows": 3, "nested": {"b": [1, 2.25], "a": "x"}},
        ip="10.0.0.7",
    )
    AuditEventFactory(failed=True, user_agent='Mozilla/5.0 "quoted" \\ back')
    AuditEventFactory(pending=True)  # not sealed: not in the chain, not in the file
    return list(AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence"))


def test_the_export_is_the_chain_in_sequence_order_one_canonical_line_each(records):
    data, summary = export()
    lines = data.decode("ascii").splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["previous_hash"] == GENESIS_HASH
    assert [json.loads(line)["hash"] for line in lines] == [event.hash for event in records]
    assert json.loads(lines[1])["record"] == records[1].canonical_content()
    assert f"head hash {records[-1].hash}" in summary
    assert "next: --after 3" in summary


def test_the_stand_alone_tool_verifies_an_export(records, tmp_path):
    data, _ = export()
    path = tmp_path / "audit.jsonl"
    path.write_bytes(data)
    result = run_tool(path, "--head", head_hash())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"intact: 3 records, up to sequence 3, head {head_hash()}"


def test_the_tool_refuses_a_wrong_head(records, tmp_path):
    data, _ = export()
    path = tmp_path / "audit.jsonl"
    path.write_bytes(data)
    result = run_tool(path, "--head", records[1].hash)  # as if the last record were cut off
    assert result.returncode == 1
    assert "not at the head" in result.stderr


def test_every_one_byte_change_fails_the_tool(records):
    tool = _tool()
    data, _ = export()
    head = head_hash()
    assert tool.verify(data, head=head)[0] == 3
    passed = []
    for position in range(len(data)):
        for replacement in {data[position] ^ 0x01, data[position] ^ 0x20, ord(" ")}:
            if replacement == data[position]:
                continue
            changed = data[:position] + bytes([replacement]) + data[position + 1 :]
            try:
                tool.verify(changed, head=head)
            except tool.ExportBroken:
                continue
            passed.append((position, replacement))
    assert not passed, f"changes the tool accepted: {passed[:10]}"


def test_a_removed_or_added_byte_fails_the_tool(records):
    tool = _tool()
    data, _ = export()
    for position in range(0, len(data), 7):
        removed = data[:position] + data[position + 1 :]
        added = data[:position] + b" " + data[position:]
        for changed in (removed, added):
            with pytest.raises(tool.ExportBroken):
                tool.verify(changed, head=head_hash())


def test_an_incremental_export_chains_onto_the_previous_file(records, tmp_path):
    first, _ = export()
    AuditEventFactory()
    AuditEventFactory()
    second, summary = export("--after", "3")
    assert len(second.splitlines()) == 2
    assert f"previous hash {records[-1].hash}" in summary
    path = tmp_path / "second.jsonl"
    path.write_bytes(second)
    assert run_tool(path, "--head", head_hash()).returncode == 1  # needs the previous hash
    result = run_tool(path, "--head", head_hash(), "--previous", records[-1].hash)
    assert result.returncode == 0, result.stderr
    both = tmp_path / "both.jsonl"
    both.write_bytes(first + second)
    assert run_tool(both, "--head", head_hash()).returncode == 0


def test_the_export_writes_to_a_file(records, tmp_path):
    path = tmp_path / "out.jsonl"
    call_command("export_audit", "--output", str(path), stdout=StringIO(), stderr=StringIO())
    assert run_tool(path, "--head", head_hash()).returncode == 0


def test_an_empty_export_verifies_against_its_previous_hash(records):
    tool = _tool()
    data, summary = export("--after", "3")
    assert data == b""
    assert tool.verify(data, head=records[-1].hash, previous=records[-1].hash)[0] == 0


def test_an_auditor_downloads_the_chain_and_the_export_is_recorded(client, auditor, tmp_path):
    AuditEventFactory()
    client.force_login(auditor)
    response = client.get(reverse("audit:jsonl"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jsonl"
    data = b"".join(response.streaming_content)
    exported = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
    assert exported.details == {"format": "jsonl", "after": 0}
    assert exported.actor_username == auditor.username
    assert response["X-Audit-Head-Hash"] == exported.hash  # the export's own record is last
    path = tmp_path / "download.jsonl"
    path.write_bytes(data)
    assert run_tool(path, "--head", response["X-Audit-Head-Hash"]).returncode == 0
    from accounts.presentation.audit import audit_sentence

    assert audit_sentence(exported).endswith("exported the audit log's hash chain")


def test_the_download_starts_after_a_sequence(client, auditor, records):
    client.force_login(auditor)
    response = client.get(reverse("audit:jsonl") + "?after=2")
    data = b"".join(response.streaming_content)
    assert response["X-Audit-Previous-Hash"] == records[1].hash
    assert [json.loads(line)["record"]["sequence"] for line in data.splitlines()] == [3, 4]


def test_a_bad_after_is_a_400(client, auditor):
    client.force_login(auditor)
    assert client.get(reverse("audit:jsonl") + "?after=-1").status_code == 400
    assert not AuditEvent.objects.exists()
