"""tfft against the peer benchmarks, side by side in one session, one process at a time (the machine's cores are
shared by nobody else while a number is taken). Appends every JSON line to --output and prints the comparison
table of the performance issue's targets.

    python scripts/bench_vs_peers.py --peers=../shared/bench --data=../shared/data --output=bench.jsonl

--peers: the directory of peer_torch.py and peer_torch_finetune.py (../shared/bench/README.md; they need torch and
transformers, which requirements-dev.txt installs). Without it only tfft is measured.
"""

import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHAPES = ["--batch_size=32", "--max_seq_length=128"]
MODELS = {"minilm": "all-MiniLM-L6-v2", "distilbert-random": "distilbert-random"}


def tfft_runs(data: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(name, tfft.bench arguments): fixed shapes per model, XLA and bf16 variants, then the real-data epoch."""
    runs = []
    for peer_name, model in MODELS.items():
        for variant in ([], ["--xla"], ["--precision=bf16"]):
            suffix = "".join(f" {v.lstrip('-')}" for v in variant)
            runs.append((f"train_step {peer_name}{suffix}", ["--mode=train_step", f"--model={model}", *SHAPES,
                                                             *variant]))
        for variant in ([], ["--xla"]):
            suffix = "".join(f" {v.lstrip('-')}" for v in variant)
            runs.append((f"infer {peer_name}{suffix}", ["--mode=infer", f"--model={model}", *SHAPES, *variant]))
    sst2 = [f"--flagfile={ROOT / 'flags/bench_sst2.cfg'}", f"--dataset={data / 'sst2'}"]
    runs.append(("epoch sst2", ["--mode=epoch", *sst2]))
    runs.append(("pipeline sst2", ["--mode=pipeline", *sst2]))
    return runs


def peer_runs(peers: pathlib.Path, data: pathlib.Path) -> list[tuple[str, list[str]]]:
    runs = [(f"peer {name}", [str(peers / "peer_torch.py"), "--model", name]) for name in MODELS]
    runs.append(("peer finetune sst2", [str(peers / "peer_torch_finetune.py"), "--model", "minilm", "--train",
                                        str(data / "sst2/train.tsv"), "--dev", str(data / "sst2/dev.tsv")]))
    return runs


def run(name: str, command: list[str], output: pathlib.Path) -> dict:
    print(f"... {name}", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"error: {name} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    line = json.loads(done.stdout.strip().splitlines()[-1])
    line["bench"] = name
    with output.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    return line


def cpu_line(results: dict[str, dict]) -> str:
    """The CPU the tfft.bench lines report: model, instruction sets, cores, and an ONEDNN_MAX_CPU_ISA cap if set."""
    cpu = next((line["cpu"] for line in results.values() if "cpu" in line), None)
    if cpu is None:
        return "CPU: not reported"
    cap = f", ONEDNN_MAX_CPU_ISA={cpu['onednn_max_cpu_isa']}" if cpu["onednn_max_cpu_isa"] else ""
    return f"CPU: {cpu['model']} ({', '.join(cpu['isa'])}), {cpu['cores']} cores{cap}"


def table(results: dict[str, dict]) -> str:
    """Markdown: the CPU tfft ran on, then tfft against the peer for each target that both sides measured."""
    rows = [cpu_line(results), "", "| target | tfft | peer | tfft / peer |", "|---|---|---|---|"]

    def row(label, ours, peer):
        ratio = f"{ours / peer:.2f}x" if ours and peer else ""
        rows.append(f"| {label} | {ours} | {peer if peer is not None else ''} | {ratio} |")

    for name in MODELS:
        peer = results.get(f"peer {name}", {})
        for variant in ("", " xla", " precision=bf16"):
            step = results.get(f"train_step {name}{variant}")
            if step:
                row(f"{name}{variant} train ex/s (MFU {step['mfu']:.0%})", step["examples_per_second"],
                    peer.get("train_examples_per_s") if not variant else None)
        for variant in ("", " xla"):
            infer = results.get(f"infer {name}{variant}")
            if infer:
                for path in ("python", "saved_model"):
                    row(f"{name}{variant} inference ex/s, {path}", infer[path]["examples_per_second"],
                        peer.get("infer_examples_per_s") if not variant else None)
    epoch, peer = results.get("epoch sst2"), results.get("peer finetune sst2", {})
    if epoch:
        row("SST-2 epoch train seconds", epoch["train_seconds"], peer.get("train_s"))
        row("SST-2 padding share", epoch["padding_share"], peer.get("padding_share"))
        row("SST-2 dev accuracy", round(epoch["validation"]["accuracy"], 4), peer.get("dev_accuracy"))
        row("SST-2 input wait share", epoch["input_wait_share"], None)
    pipeline = results.get("pipeline sst2")
    if pipeline and epoch:
        row("tokenization ex/s over training ex/s", round(pipeline["tokenize_examples_per_second"]
                                                          / epoch["examples_per_second"], 1), None)
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=pathlib.Path, help="directory of the peer scripts")
    parser.add_argument("--data", type=pathlib.Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--output", type=pathlib.Path, default=pathlib.Path("bench.jsonl"))
    args = parser.parse_args()
    if not (args.data / "sst2/train.tsv").is_file():
        sys.exit(f"error: --data={args.data}: no sst2/train.tsv there (the shared data sets)")
    if args.peers and not (args.peers / "peer_torch.py").is_file():
        sys.exit(f"error: --peers={args.peers}: no peer_torch.py there")
    runs = [(name, ["-m", "tfft.bench", *flags]) for name, flags in tfft_runs(args.data)]
    if args.peers:
        runs += peer_runs(args.peers.resolve(), args.data.resolve())
    results = {name: run(name, command, args.output) for name, command in runs}
    print(table(results))


if __name__ == "__main__":
    main()
