"""`skutag predict --ray` on a real two-node Ray cluster (two `ray start` processes on this machine, 1 CPU each):
the same rows, columns and values as one-process `predict` on real MWPD offers, with work on both nodes; a worker
killed in the middle of the run changes nothing (every row in the output or the rejects, once); and inputs read
from, outputs written to an S3 bucket of a server the test starts (moto's server mode), by a driver that joins
through the Ray Client (``ray://``).

Select with ``-m ray``; one cluster serves the module (about a minute to start on a loaded 2-core machine)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from conftest_store import free_port
from ray_support import CHUNK, LocalCluster, MwpdCase, mwpd_case, read_shards, reject_keys, skutag

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(900),
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra"),
]

BUCKET = "catalogue"


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> MwpdCase:
    return mwpd_case(tmp_path_factory.mktemp("ray-case"))


@pytest.fixture(scope="module")
def single(case: MwpdCase, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """One-process `predict` of the same files: the reference output and its rejects."""
    from skutag.workflows.predict import predict_files

    out = tmp_path_factory.mktemp("ray-single") / "predictions.parquet"
    stats = predict_files(case.model, case.files, out, chunksize=CHUNK, keep_columns=["Name"])
    assert stats.rows_read == case.rows_in and stats.rows_rejected == 2
    return pd.read_parquet(out), out.with_name(out.name + ".rejects.jsonl")


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """An S3-compatible server (moto) on a free port; the AWS variables that point clients at it."""
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    try:
        yield env
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster(s3: dict[str, str]) -> Iterator[LocalCluster]:
    """Two nodes of 1 CPU (the second with a resource ``node2``), their workers pointed at the S3 server."""
    with LocalCluster(nodes=2, env=s3) as c:
        yield c


def run_ray(
    cluster: LocalCluster, model: Path, inputs: str, out: str, env: dict[str, str] | None = None, client: bool = False
) -> str:
    """`skutag predict --ray` on the cluster with two workers of 0.75 CPU: one fits per node, so both work. The
    driver joins at the head's GCS address, or with ``client`` through the Ray Client (``ray://``)."""
    result = skutag(
        "predict",
        str(model),
        inputs,
        "--out",
        out,
        "--ray",
        "--address",
        cluster.client_address if client else cluster.address,
        "--workers",
        "2",
        "--cpus-per-worker",
        "0.75",
        "--chunksize",
        str(CHUNK),
        "--keep",
        "Name",
        env={**cluster.auth, **(env or {})},
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-6000:]}\n{cluster.logs()[-3000:]}"
    return result.stdout


def check_manifest(manifest: dict[str, object], case: MwpdCase, want: pd.DataFrame) -> None:
    assert manifest["rows_read"] == case.rows_in
    assert manifest["rows_written"] == len(want)
    assert manifest["rows_written"] + manifest["rows_rejected"] == case.rows_in  # type: ignore[operator]


def test_two_nodes_predict_what_one_process_does(
    case: MwpdCase, single: tuple[pd.DataFrame, Path], cluster: LocalCluster, tmp_path: Path
) -> None:
    want, want_rejects = single
    out = tmp_path / "out"
    printed = run_ray(cluster, case.model, str(case.inputs), str(out))
    assert "rows predicted, 2 rejected" in printed and "2 node(s)" in printed

    got = read_shards(out)
    pd.testing.assert_frame_equal(got, want)  # row for row, column for column, value for value
    assert reject_keys(out / "_rejects.jsonl") == reject_keys(want_rejects)
    manifest = json.loads((out / "_manifest.json").read_text())
    check_manifest(manifest, case, want)
    assert len(manifest["nodes"]) == 2 and all(n > 0 for n in manifest["nodes"].values())  # both nodes predicted
    assert len(manifest["shards"]) == len(list(out.glob("part-*.parquet"))) > 2


def test_a_worker_killed_mid_run_loses_and_repeats_nothing(
    case: MwpdCase, single: tuple[pd.DataFrame, Path], cluster: LocalCluster, tmp_path: Path
) -> None:
    want, want_rejects = single
    out = tmp_path / "out"
    marker = tmp_path / "killed"
    # the first worker to reach its 2nd chunk writes that chunk's shard, then its process exits (os._exit)
    run_ray(cluster, case.model, str(case.inputs), str(out), env={"SKUTAG_RAY_FAULT": f"2:{marker}"})
    assert marker.exists()  # the worker did die

    got = read_shards(out)
    assert not got.duplicated(["_source", "_row"]).any()
    pd.testing.assert_frame_equal(got, want)
    assert reject_keys(out / "_rejects.jsonl") == reject_keys(want_rejects)
    manifest = json.loads((out / "_manifest.json").read_text())
    check_manifest(manifest, case, want)
    # two workers, and the killed one's replacement, which redid its chunk
    assert len(manifest["worker_pids"]) >= 3


def test_s3_in_and_out(
    case: MwpdCase,
    single: tuple[pd.DataFrame, Path],
    cluster: LocalCluster,
    s3: dict[str, str],
    tmp_path: Path,
) -> None:
    import boto3

    want, want_rejects = single
    client = boto3.client("s3", endpoint_url=s3["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    for f in case.files:
        client.upload_file(str(f), BUCKET, f"in/{f.name}")
    client.put_object(Bucket=BUCKET, Key="out/part-99999-0000000001.parquet", Body=b"stale shard of an old run")

    # from outside the cluster: through the Ray Client, the data in object storage
    run_ray(cluster, case.model, f"s3://{BUCKET}/in/", f"s3://{BUCKET}/out/", env=s3, client=True)

    local = tmp_path / "out"
    local.mkdir()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="out/")["Contents"]]
    for key in keys:
        if key.rstrip("/") != "out":
            client.download_file(BUCKET, key, str(local / key.removeprefix("out/")))
    assert "out/part-99999-0000000001.parquet" not in keys  # an earlier run's shards are replaced
    uri = {str(f): f"s3://{BUCKET}/in/{f.name}" for f in case.files}
    expected = want.assign(_source=want["_source"].map(uri))
    pd.testing.assert_frame_equal(read_shards(local), expected)
    rejects = [(uri[s], r, why) for s, r, why in reject_keys(want_rejects)]
    assert reject_keys(local / "_rejects.jsonl") == sorted(rejects)
    manifest = json.loads((local / "_manifest.json").read_text())
    assert manifest["files"] == [uri[str(f)] for f in case.files]
    check_manifest(manifest, case, want)
