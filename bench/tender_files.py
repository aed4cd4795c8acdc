"""A tender guarantee file end to end: sliced, encrypted and uploaded over loopback HTTP to a receiver process
that stages the slices in its database and, on the completion notice, decrypts them into its file store.

    PYTHONPATH=src .venv/bin/python bench/tender_files.py [--size-mb 20] [--in-flight 2] [--store database|directory]
    python bench/tender_files.py receiver < config.json   (the receiving process, started by the above)

The sender reads the plain file in 1 MiB chunks, encrypts it (SM4-CBC/PKCS#7, tender/files.py) into
slices, Base64s each into an ``uploadbaohanfile`` body and POSTs it (one thread encrypting the next slice
while ``--in-flight`` others are sent), then sends ``baohanfilecompletenotice`` with F and V SM2-sealed
for the platform and the plain file's MD5. The receiver (uvicorn, a process of its own) stages each slice
with adapters/uploads.Uploads on SQLite and, on the notice, opens F and V and commits the upload through
the streaming decryptor into an adapters/files store, which checks the MD5. Not yet here: the request
sign and the tender tables (a later step swaps in the real tender platform role). A 1 kB upload warms the
receiver up first, untimed: a running platform has served before.

Reported: end-to-end MB/s (first byte read to the completion notice answered; also split into the slices'
upload and the notice's decrypt-and-store) as a ratio of raw SM4-CBC of one thread measured in the same
run, before and after (need >= 50%); the CPU time per MB of each process (the receiver's split into staging
and the notice) and the ceilings they set on one and two cores; the receiver's RSS when ready,
after the warm-up, and its peak (VmHWM; ru_maxrss shown beside it) against 3 x slice + 60 MB, and its growth
over ready against 3 x slice. Exits 1 if a requirement is missed (unless --report-only).
BENCH_PROFILE=out.txt samples the receiver with py-spy (raw collapsed stacks). Findings: decision 0006.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from baohan.gm import SM2PrivateKey, SM2PublicKey
from baohan.protocols.tender.files import SLICE_SIZE, EncryptedFile, FileKey
from baohan.protocols.tender.sealing import seal_file_secret

MB = 1_000_000
PREFIX = "/tender"


def raw_sm4_cbc_rate(data: bytes, chunk: int) -> float:
    """MB/s of cryptography's SM4-CBC encryptor over ``data`` in ``chunk`` pieces, one thread."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = FileKey.fresh()
    began = time.perf_counter()
    ctx = Cipher(algorithms.SM4(key.key), modes.CBC(key.iv)).encryptor()
    for at in range(0, len(data), chunk):
        ctx.update(data[at : at + chunk])
    ctx.finalize()
    return len(data) / (time.perf_counter() - began) / MB


def read_chunks(path: Path, size: int) -> Iterator[bytes]:
    """The file at ``path`` in pieces of ``size``."""
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk


def upload(
    url: str, path: Path, platform: SM2PublicKey, slice_size: int, name: str, in_flight: int
) -> dict[str, Any]:
    """Send the file at ``path`` as guarantee ``name`` the way the tender wire does, ``in_flight`` slices
    at a time (one connection each); timings and the receiver's answer."""
    import httpx  # here, not at the top: the receiving process must not carry the sender's client

    common = {"appkey": "bench", "applyno": f"APPLY-{name}", "baohanno": name, "filetype": "1"}
    encrypted = EncryptedFile(read_chunks(path, SLICE_SIZE), slice_size=slice_size)
    # Bounded: the sender holds at most in_flight + 1 encoded slices whatever the file's size.
    bodies: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for index, piece in enumerate(encrypted, 1):
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                fields = {**common, "timestamp": stamp, "index": str(index)}
                fields["baohanfile"] = base64.b64encode(piece).decode("ascii")
                bodies.put(json.dumps(fields).encode())
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            for _ in range(in_flight):
                bodies.put(None)

    def send(client: httpx.Client) -> None:
        headers = {"content-type": "application/json"}
        while (body := bodies.get()) is not None:
            if errors:
                continue
            answer = client.post(f"{PREFIX}/uploadbaohanfile", content=body, headers=headers).json()
            if answer.get("code") != 1:
                errors.append(SystemExit(f"uploadbaohanfile refused: {answer}"))

    def guarded(client: httpx.Client) -> None:
        try:
            send(client)
        except BaseException as exc:
            errors.append(exc)

    # A client keeps its connection pool: made before the clock starts, like a running institution's.
    clients = [httpx.Client(base_url=url, timeout=120) for _ in range(in_flight)]
    try:
        cpu = _cpu_seconds()
        began = time.perf_counter()
        threads = [threading.Thread(target=produce, name="encrypt", daemon=True)]
        threads += [threading.Thread(target=guarded, args=(c,), daemon=True) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        uploaded = time.perf_counter()
        notice = {
            **common,
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
            "key": seal_file_secret(encrypted.key.key, platform),
            "iv": seal_file_secret(encrypted.key.iv, platform),
            "baohanfilemd5": encrypted.digest,
        }
        answer = clients[0].post(f"{PREFIX}/baohanfilecompletenotice", json=notice).json()
        finished = time.perf_counter()
        if answer.get("code") != 1:
            raise SystemExit(f"baohanfilecompletenotice refused: {answer}")
        memory = clients[0].get("/memory").json()
    finally:
        for client in clients:
            client.close()
    return {
        "seconds": finished - began,
        "sender_cpu_seconds": _cpu_seconds() - cpu,
        "upload_seconds": uploaded - began,
        "commit_seconds": finished - uploaded,
        "slices": encrypted.slices,
        "md5": encrypted.digest,
        "stored": answer["data"],
        "memory": memory,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=20.0, help="size of the guarantee file (MB)")
    parser.add_argument("--slice-size", type=int, default=SLICE_SIZE)
    parser.add_argument("--in-flight", type=int, default=2, help="slices uploaded at once")
    parser.add_argument("--store", choices=["database", "directory"], default="database")
    parser.add_argument(
        "--mmap-threshold",
        type=int,
        default=0,
        help="the receiver's MALLOC_MMAP_THRESHOLD_ in bytes; 0 (default) keeps glibc's sliding threshold. "
        "131072 maps every 1 MB buffer afresh: about 6 MB less peak for 20 ms/MB more CPU (0006)",
    )
    parser.add_argument(
        "--arena-max",
        type=int,
        default=0,
        help="the receiver's MALLOC_ARENA_MAX; 0 (default) keeps glibc's (8 per core). 2 keeps the staging "
        "threads' freed buffers in fewer heaps: about 5 MB less peak, no CPU measured (0006)",
    )
    parser.add_argument("--report-only", action="store_true", help="exit 0 even when a requirement is missed")
    args = parser.parse_args(argv)

    from baohan.adapters.db import migrate
    from baohan.web.serving import free_port
    from scaffold import ENV, stop, wait_http

    workdir = Path(tempfile.mkdtemp(prefix="baohan-bench-files-"))
    size = int(args.size_mb * MB)
    plain = workdir / "guarantee.pdf"
    plain.write_bytes(os.urandom(size))
    db = f"sqlite:///{workdir}/receiver.db"
    migrate.upgrade(db)  # what `baohan migrate` does before a server starts
    platform = SM2PrivateKey.generate()
    port = free_port()
    config = {
        "port": port,
        "db": db,
        "private_key": platform.to_hex(),
        "slice_size": args.slice_size,
        "store": args.store,
        "store_dir": str(workdir / "files"),
    }
    profiler: subprocess.Popen[str] | None = None
    receiver_env = dict(ENV)
    if args.mmap_threshold:
        # A fixed threshold: glibc otherwise raises it to the size of the first freed 1 MB buffer and
        # keeps later slices' buffers in its heap, which does not shrink (0006).
        receiver_env["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold)
    if args.arena_max:
        receiver_env["MALLOC_ARENA_MAX"] = str(args.arena_max)
    receiver = subprocess.Popen(
        [sys.executable, __file__, "receiver"], stdin=subprocess.PIPE, env=receiver_env, text=True
    )
    assert receiver.stdin is not None
    receiver.stdin.write(json.dumps(config))
    receiver.stdin.close()
    try:
        wait_http(f"http://127.0.0.1:{port}/memory")
        profiler = _profile(receiver.pid)
        # A platform that has served before: the first request's imports and connections are not timed.
        warm = workdir / "warm-up.pdf"
        warm.write_bytes(os.urandom(1000))
        warmed = upload(
            f"http://127.0.0.1:{port}", warm, platform.public_key, args.slice_size, "BH-WARM-UP", 1
        )
        sample = plain.read_bytes()[: min(size, 20 * MB)]
        before = raw_sm4_cbc_rate(sample, SLICE_SIZE)
        result = upload(
            f"http://127.0.0.1:{port}",
            plain,
            platform.public_key,
            args.slice_size,
            "BH-BENCH",
            args.in_flight,
        )
        after = raw_sm4_cbc_rate(sample, SLICE_SIZE)
        del sample
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT, not SIGTERM
            profiler.wait(timeout=60)
        stop(receiver)
        shutil.rmtree(workdir, ignore_errors=True)
    if result["stored"]["md5"] != result["md5"] or result["stored"]["size"] != size:
        raise SystemExit(f"the receiver stored something else: {result['stored']}")

    raw = (before + after) / 2
    rate = size / result["seconds"] / MB
    ratio = rate / raw
    memory = result["memory"]
    peak, ready = memory["peak_kb"] * 1024 / MB, memory["ready_kb"] * 1024 / MB
    warm_rss = warmed["memory"]["rss_kb"] * 1024 / MB
    staged = memory["staged_peak_kb"] * 1024 / MB
    budget = (3 * args.slice_size + 60 * MB) / MB
    print(
        f"tender guarantee file, {size / MB:.1f} MB in {result['slices']} slices of {args.slice_size} bytes "
        f"({args.in_flight} in flight), "
        f"{args.store} store on SQLite, receiver MALLOC_MMAP_THRESHOLD_ {args.mmap_threshold or 'glibc'}, "
        f"MALLOC_ARENA_MAX {args.arena_max or 'glibc'}, "
        f"{len(os.sched_getaffinity(0))} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print(f"  raw SM4-CBC, one thread           {raw:7.1f} MB/s   (before {before:.1f}, after {after:.1f})")
    print(
        f"  end to end over loopback HTTP     {rate:7.1f} MB/s   ({ratio:.0%} of raw SM4-CBC)   "
        f"{result['seconds']:.2f} s: slices up {result['upload_seconds']:.2f} s "
        f"({size / result['upload_seconds'] / MB:.1f} MB/s; staging {memory['stage_seconds']:.2f} s of it), "
        f"completion notice (decrypt + store) "
        f"{result['commit_seconds']:.2f} s ({size / result['commit_seconds'] / MB:.1f} MB/s)"
    )
    receiver_cpu = memory["cpu_seconds"] - warmed["memory"]["cpu_seconds"]
    staging_cpu = memory["staged_cpu_seconds"] - warmed["memory"]["cpu_seconds"]
    sender_cpu = result["sender_cpu_seconds"]
    per_mb = 1000 / (size / MB)  # seconds -> ms/MB
    # With a single free core the two processes' work adds up: the ratio can be no better than this. With
    # two, the slices' upload (sender and staging) and then the commit each share them at best.
    two_cores = (sender_cpu + staging_cpu) / 2 + (receiver_cpu - staging_cpu) / 2
    print(
        f"  CPU time                          receiver {receiver_cpu * per_mb:.1f} ms/MB "
        f"(staging {staging_cpu * per_mb:.1f}, completion notice {(receiver_cpu - staging_cpu) * per_mb:.1f}), "
        f"sender {sender_cpu * per_mb:.1f} ms/MB, raw SM4-CBC {1000 / raw:.1f} ms/MB: ceiling on one core "
        f"{1000 / raw / ((receiver_cpu + sender_cpu) * per_mb):.0%}, on two {1000 / raw / (two_cores * per_mb):.0%}"
    )
    print(
        f"  receiver memory (VmHWM)           peak {peak:.1f} MB, at ready {ready:.1f} MB, "
        f"growth {peak - ready:.1f} MB   (budget 3 x slice + 60 MB = {budget:.1f} MB)"
    )
    print(
        f"                                    after a 1 kB warm-up upload {warm_rss:.1f} MB, growth from there "
        f"{peak - warm_rss:.1f} MB; peak once the last slice was staged {staged:.1f} MB; ru_maxrss "
        f"{memory['ru_maxrss_kb'] * 1024 / MB:.1f} MB (includes the bench's own peak, inherited at exec)"
    )
    checks = [
        (f"end to end {ratio:.0%} of raw SM4-CBC (need >= 50%)", ratio >= 0.5),
        (f"receiver peak {peak:.1f} MB (need <= {budget:.1f} MB)", peak <= budget),
        # The imports alone outweigh the 60 MB (0006): what the file itself costs is the growth over ready.
        (
            f"receiver growth {peak - ready:.1f} MB (need <= 3 x slice = {3 * args.slice_size / MB:.1f} MB)",
            peak - ready <= 3 * args.slice_size / MB,
        ),
    ]
    for text, passed in checks:
        print(("PASS  " if passed else "FAIL  ") + text)
    return 0 if args.report_only or all(passed for _, passed in checks) else 1


def _profile(pid: int) -> subprocess.Popen[str] | None:
    """py-spy sampling the receiver into $BENCH_PROFILE (raw collapsed stacks), when that is set."""
    out = os.environ.get("BENCH_PROFILE")
    if not out:
        return None
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    command = [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--output", out]
    profiler = subprocess.Popen(command, text=True, stdout=subprocess.DEVNULL)
    time.sleep(1)  # attached before the first request
    return profiler


# -- the receiving process ----------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    """User and system CPU time of this process so far, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_kb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries the parent's peak across fork and exec into it,
    so a receiver started by a bench holding a 20 MB file would report the bench's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _serve_receiver() -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from baohan.adapters.db.engine import make_engine, make_session_factory, transaction
    from baohan.adapters.files import DatabaseFileStore, DigestMismatch, DirectoryFileStore, FileStore
    from baohan.adapters.uploads import Uploads
    from baohan.gm import GMError
    from baohan.gm.codec import from_base64
    from baohan.protocols.tender.files import decrypt_file
    from baohan.protocols.tender.sealing import open_file_secret

    config = json.loads(sys.stdin.read())
    sessions = make_session_factory(make_engine(config["db"], background_checkpoints=True))
    store: FileStore = (
        DatabaseFileStore()
        if config["store"] == "database"
        else DirectoryFileStore(Path(config["store_dir"]))
    )
    uploads = Uploads(store, max_slice_size=config["slice_size"])
    own = SM2PrivateKey.load(config["private_key"])
    upload_ids: dict[str, str] = {}  # baohanno -> upload id: the tender tables keep this in the real role
    lock = threading.Lock()
    ready: dict[str, int] = {}
    busy = {
        "stage": 0.0,
        "staged_peak_kb": 0,
        "staged_cpu": 0.0,
    }  # seconds spent staging slices (Base64, SQLite), the peak and CPU time at the notice, for the report

    def answer(code: int, message: str, data: dict[str, Any] | None = None) -> JSONResponse:
        return JSONResponse({"code": code, "message": message, "data": data or {}})

    def stage(fields: dict[str, Any]) -> JSONResponse:
        began = time.perf_counter()
        try:
            return _stage(fields)
        finally:
            busy["stage"] += time.perf_counter() - began

    def _stage(fields: dict[str, Any]) -> JSONResponse:
        # Taken out of the fields: the Base64 text (1.4 MB) is freed once decoded, not held to the answer.
        data = from_base64(fields.pop("baohanfile"), "baohanfile")
        with lock:
            upload_id = upload_ids.get(fields["baohanno"])
            if upload_id is None:
                with transaction(sessions) as session:
                    upload_id = upload_ids[fields["baohanno"]] = uploads.begin(session, fields["baohanno"])
        with transaction(sessions) as session:
            uploads.add_slice(session, upload_id, int(fields["index"]), data)
        return answer(1, "成功")

    def complete(fields: dict[str, Any]) -> JSONResponse:
        busy["staged_peak_kb"] = _peak_kb()
        busy["staged_cpu"] = _cpu_seconds()
        try:
            key = FileKey(
                open_file_secret(fields["key"], own, "key"), open_file_secret(fields["iv"], own, "iv")
            )
            with transaction(sessions) as session:
                file_id = uploads.commit(
                    session,
                    upload_ids[fields["baohanno"]],
                    md5=fields["baohanfilemd5"],  # the store computes the MD5 anyway: it checks it
                    transform=lambda slices: decrypt_file(slices, key, digest=None),
                )
                info = store.info(session, file_id)
        except DigestMismatch as exc:
            return answer(0, f"baohanfilemd5: {exc}")
        except GMError as exc:
            return answer(0, str(exc))
        return answer(1, "成功", {"file_id": file_id, "size": info.size, "md5": info.md5, "sm3": info.sm3})

    async def uploadbaohanfile(request: Request) -> JSONResponse:
        from starlette.concurrency import run_in_threadpool

        # Joined here rather than by request.body(), which would keep the body (1.4 MB) to the answer.
        fields = json.loads(b"".join([chunk async for chunk in request.stream()]))
        return await run_in_threadpool(stage, fields)

    async def completenotice(request: Request) -> JSONResponse:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(complete, json.loads(await request.body()))

    async def memory(request: Request) -> JSONResponse:
        peak = _peak_kb()
        stats = {
            "ready_kb": ready.setdefault("rss", _rss_kb()),
            "rss_kb": _rss_kb(),
            "peak_kb": peak,
            "stage_seconds": busy["stage"],
            "staged_peak_kb": busy["staged_peak_kb"],
            "staged_cpu_seconds": busy["staged_cpu"],
            "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "cpu_seconds": _cpu_seconds(),
        }
        busy["stage"] = 0.0
        return JSONResponse(stats)

    app = Starlette(
        routes=[
            Route(f"{PREFIX}/uploadbaohanfile", uploadbaohanfile, methods=["POST"]),
            Route(f"{PREFIX}/baohanfilecompletenotice", completenotice, methods=["POST"]),
            Route("/memory", memory),
        ]
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(config["port"]),
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["receiver"]:
        _serve_receiver()
    else:
        sys.exit(main())
