"""LoRA against PyTorch's PEFT (the independent reference): the same base weights and adapters give the same logits
(tfft's forward pass against PeftModel's, 1e-5) and the same merged weights (merge_and_unload); adapters move
tfft -> PEFT -> tfft unchanged; an adapter for another base model or one PEFT option tfft lacks is one clear error."""

import json
import shutil

import numpy as np
import pytest

from conftest import max_abs_diff, padded_batch, randomize_torch, tfft_call

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from tfft.checkpoints import formats  # noqa: E402
from tfft.checkpoints.io import export_weights, from_pretrained, save_pretrained  # noqa: E402
from tfft.checkpoints.peft import ADAPTER_CONFIG, ADAPTER_WEIGHTS, read_adapter  # noqa: E402
from tfft.models import lora  # noqa: E402

ALL_TARGETS = tuple(lora.TARGETS)
# PEFT's target_modules for all six projections, per family (BERT's as a regex: output.dense is also a suffix of
# attention.output.dense, so PEFT's suffix matching cannot name the feed-forward output alone).
PEFT_TARGETS = {
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
    "bert": r".*\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|"
            r"output\.dense)",
}


def torch_model(family: str, head: str, seed: int = 0):
    """A small Hugging Face PyTorch model with every parameter random."""
    if family == "distilbert":
        config = transformers.DistilBertConfig(vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=48,
                                               max_position_embeddings=40, num_labels=3)
    else:
        config = transformers.BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=48, max_position_embeddings=40, num_labels=3)
    cls = getattr(transformers, f"{'DistilBert' if family == 'distilbert' else 'Bert'}For{head}")
    torch.manual_seed(seed)
    model = cls(config).eval()
    randomize_torch(model, seed)
    return model


def save_base(model, path):
    model.save_pretrained(str(path), safe_serialization=True)
    return path


def peft_model(base, targets, *, task_type: str, seed: int = 1):
    """A PEFT LoRA model whose B matrices are random too (PEFT starts them at zero, which would hide B)."""
    config = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=targets, task_type=task_type,
                             init_lora_weights=False)
    model = peft.get_peft_model(base, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


def torch_logits(model, batch):
    inputs = {k: torch.from_numpy(v.astype(np.int64)) for k, v in batch.items()}
    with torch.no_grad():
        return model(**inputs).logits.numpy()


HEADS = {"SequenceClassification": "SEQ_CLS", "TokenClassification": "TOKEN_CLS"}


@pytest.mark.parametrize("family", ["distilbert", "bert"])
@pytest.mark.parametrize("head", list(HEADS))
def test_peft_adapters_load_and_give_peft_logits_and_merged_weights(tmp_path, family, head):
    base_dir = save_base(torch_model(family, head), tmp_path / "base")
    reference = peft_model(torch_model(family, head), PEFT_TARGETS[family], task_type=HEADS[head])
    reference.save_pretrained(str(tmp_path / "adapter"))
    config = json.loads((tmp_path / "adapter" / ADAPTER_CONFIG).read_text())
    config["base_model_name_or_path"] = str(base_dir)  # where this machine has the base
    (tmp_path / "adapter" / ADAPTER_CONFIG).write_text(json.dumps(config))
    batch = padded_batch(120, lengths=(12, 7, 3), segments=family == "bert")

    model = from_pretrained(tmp_path / "adapter")
    assert model.lora == lora.LoraConfig(4, 8.0, 0.1, ALL_TARGETS)
    mask = batch["attention_mask"] if head == "TokenClassification" else None
    assert max_abs_diff(tfft_call(model, batch), torch_logits(reference, batch), mask) < 1e-5

    merged = from_pretrained(tmp_path / "adapter", merge_lora=True)
    assert getattr(merged, "lora", None) is None and not lora.adapters(merged)
    plain = reference.merge_and_unload().state_dict()
    ours = export_weights(merged)
    for name, value in plain.items():
        if name in ours:
            assert np.abs(ours[name] - value.numpy()).max() < 1e-5, name
    assert max_abs_diff(tfft_call(merged, batch), torch_logits(reference, batch), mask) < 1e-5


@pytest.mark.parametrize("family,targets", [("distilbert", ("query", "value")), ("bert", ALL_TARGETS)])
def test_tfft_adapters_load_in_peft_and_come_back_unchanged(tmp_path, family, targets):
    base_dir = save_base(torch_model(family, "SequenceClassification"), tmp_path / "base")
    model = from_pretrained(base_dir)
    lora.attach(model, lora.LoraConfig(rank=4, alpha=16.0, dropout=0.05, targets=targets))
    rng = np.random.default_rng(3)
    for variable in [v for a in lora.adapters(model).values() for v in (a.a, a.b)] + list(
            model.classifier.trainable_variables):
        variable.assign(rng.normal(0, 0.1, variable.shape).astype(np.float32))
    save_pretrained(model, tmp_path / "ours")
    assert not (tmp_path / "ours" / formats.SAFETENSORS).exists()  # the frozen base is not copied
    batch = padded_batch(120, lengths=(9, 4), segments=family == "bert")

    base = transformers.AutoModelForSequenceClassification.from_pretrained(str(base_dir)).eval()
    reference = peft.PeftModel.from_pretrained(base, str(tmp_path / "ours")).eval()
    assert max_abs_diff(tfft_call(model, batch), torch_logits(reference, batch)) < 1e-5

    reference.save_pretrained(str(tmp_path / "back"))
    again = from_pretrained(tmp_path / "back", labels=model.config.id2label)
    for key, adapter in lora.adapters(model).items():
        back = lora.adapters(again)[key]
        np.testing.assert_array_equal(back.a.numpy(), adapter.a.numpy())
        np.testing.assert_array_equal(back.b.numpy(), adapter.b.numpy())
    assert again.lora == model.lora
    assert max_abs_diff(tfft_call(again, batch), tfft_call(model, batch)) == 0.0


def test_an_adapter_for_another_base_model_is_refused(tmp_path):
    small = save_base(torch_model("distilbert", "SequenceClassification"), tmp_path / "small")
    wide = transformers.DistilBertForSequenceClassification(transformers.DistilBertConfig(
        vocab_size=120, dim=64, n_layers=2, n_heads=4, hidden_dim=48, max_position_embeddings=40, num_labels=3))
    wide_dir = save_base(wide, tmp_path / "wide")
    reference = peft_model(wide, ["q_lin", "v_lin"], task_type="SEQ_CLS")
    reference.save_pretrained(str(tmp_path / "adapter"))
    config_file = tmp_path / "adapter" / ADAPTER_CONFIG
    config = json.loads(config_file.read_text())
    adapter = read_adapter(tmp_path / "adapter")

    from tfft.checkpoints.peft import check_base, load_adapter

    model = from_pretrained(small)
    config["base_model_name_or_path"] = str(wide_dir)
    config_file.write_text(json.dumps(config))
    with pytest.raises(formats.CheckpointError, match=r"was built for base model .*wide \(distilbert .*dim=64\), not for .*small"):
        check_base(model, read_adapter(tmp_path / "adapter"), str(small))
    with pytest.raises(formats.CheckpointError, match=r"lora_A.weight has shape \[4, 64\] but .* expects \[4, 32\]"):
        load_adapter(model, adapter)


@pytest.mark.parametrize("change,message", [
    ({"use_dora": True}, "use_dora=True is not supported"),
    ({"peft_type": "IA3"}, "peft_type='IA3'; tfft loads LORA adapters only"),
    ({"rank_pattern": {"q_lin": 2}}, "rank_pattern="),
    ({"r": "eight"}, "expected numbers r and lora_alpha"),
])
def test_peft_options_tfft_lacks_are_refused(tmp_path, change, message):
    reference = peft_model(torch_model("distilbert", "SequenceClassification"), ["q_lin"], task_type="SEQ_CLS")
    reference.save_pretrained(str(tmp_path / "adapter"))
    config_file = tmp_path / "adapter" / ADAPTER_CONFIG
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), **change}))
    with pytest.raises(formats.CheckpointError, match=message):
        read_adapter(tmp_path / "adapter")


def test_an_adapter_directory_without_its_weights_says_so(tmp_path):
    reference = peft_model(torch_model("distilbert", "SequenceClassification"), ["q_lin"], task_type="SEQ_CLS")
    reference.save_pretrained(str(tmp_path / "adapter"))
    shutil.move(tmp_path / "adapter" / ADAPTER_WEIGHTS, tmp_path / "elsewhere")
    with pytest.raises(formats.CheckpointError, match="adapter_model.safetensors is missing"):
        read_adapter(tmp_path / "adapter")
