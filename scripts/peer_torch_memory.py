"""The Hugging Face + PyTorch (+ PEFT) peer of `python -m tfft.bench --mode=memory`: one training configuration's
step time, peak resident memory, trainable parameters and checkpoint sizes at fixed shapes, as one JSON line.

    python scripts/peer_torch_memory.py --model=DIR|distilbert-random --config=lora --batch=32 --seq=128

Configurations (the names tfft.bench uses): full (AdamW on every weight), recompute (+ gradient checkpointing),
lora (PEFT LoRA rank 8, alpha 16, dropout 0.1 on query and value, the head trainable), lora_recompute, adafactor
(transformers' Adafactor at a fixed learning rate, no first moment). Every step as a user's loop does it: forward
with labels, backward, clip to norm 1, optimizer step. Needs torch, transformers and peft (requirements-dev.txt);
tfft itself never imports this.
"""

import argparse
import json
import os
import pathlib
import resource
import statistics
import tempfile
import time

import torch
import transformers

CONFIGS = ("full", "recompute", "lora", "lora_recompute", "adafactor")
QUERY_VALUE = {"distilbert": ["q_lin", "v_lin"], "bert": ["query", "value"]}


def directory_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--config", choices=CONFIGS, required=True)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--warmup_calls", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    if args.model == "distilbert-random":  # distilbert-base-uncased's dimensions, random weights
        model = transformers.DistilBertForSequenceClassification(transformers.DistilBertConfig(num_labels=2))
    else:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2)
    if "recompute" in args.config:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if args.config.startswith("lora"):
        import peft

        model = peft.get_peft_model(model, peft.LoraConfig(
            r=8, lora_alpha=16, lora_dropout=0.1, target_modules=QUERY_VALUE[model.config.model_type],
            task_type="SEQ_CLS"))
    trainable = [p for p in model.parameters() if p.requires_grad]
    if args.config == "adafactor":
        optimizer = transformers.optimization.Adafactor(trainable, lr=5e-5, relative_step=False,
                                                        scale_parameter=False, warmup_init=False, weight_decay=0.01)
    else:
        optimizer = torch.optim.AdamW(trainable, lr=5e-5, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, model.config.vocab_size, (args.batch, args.seq), generator=generator)
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 2, (args.batch,), generator=generator)

    model.train()
    setup_peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    times = []
    for _ in range(args.warmup_calls + args.calls):
        start = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    train_peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    seconds = statistics.median(times[args.warmup_calls:])
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        model.save_pretrained(str(scratch / "saved"))  # PEFT: the adapter files only
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, scratch / "checkpoint.pt")
        saved, checkpoint = directory_bytes(scratch / "saved"), (scratch / "checkpoint.pt").stat().st_size
    print(json.dumps({"peer": "hf-torch" + ("-peft" if args.config.startswith("lora") else ""), "config": args.config,
                      "torch": torch.__version__, "model": args.model, "batch_size": args.batch,
                      "seq_length": args.seq, "trainable_parameters": sum(p.numel() for p in trainable),
                      "step_seconds": round(seconds, 4), "examples_per_second": round(args.batch / seconds, 2),
                      "setup_peak_rss_mb": setup_peak, "train_peak_rss_mb": train_peak, "saved_bytes": saved, "checkpoint_bytes": checkpoint}))


if __name__ == "__main__":
    main()
