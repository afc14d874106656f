"""The config of Hezar's ViT + RoBERTa image-to-text models: three blocks, ``encoder``, ``decoder`` and ``generation``.

Hezar's ``ViTRobertaImage2TextConfig`` and ``TrOCRImage2TextConfig`` hold each block as a mapping that goes straight
into a 🤗 config (``ViTConfig(**encoder)``, ``RobertaConfig(**decoder)``, ``GenerationConfig(**generation)``), so
a key a file leaves out takes 🤗's default, while a config built without a block gets Hezar's defaults for the
whole block. Both are kept here: each block class has 🤗's defaults, and the fields' factories Hezar's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ...configs import Config, ConfigBlock, ModelConfig
from ...constants import TaskType
from ...errors import ConfigError
from ...preprocessors.image_processor import ImageProcessorConfig
from ..roberta.decoder import RobertaDecoderConfig
from ..seq2seq import generation_problems
from ..vit.config import ViTEncoderConfig

__all__ = ["Image2TextGenerationConfig", "VisionEncoderDecoderConfig", "hezar_decoder", "hezar_generation"]


def hezar_decoder(pad_token_id: int) -> RobertaDecoderConfig:
    """Hezar's default ``decoder`` block (its ``DecoderConfig``); the two models differ in the padding id only."""
    return RobertaDecoderConfig(is_decoder=True, add_cross_attention=True, vocab_size=42000,
                                max_position_embeddings=514, type_vocab_size=1, pad_token_id=pad_token_id)


def hezar_generation(pad_token_id: int) -> "Image2TextGenerationConfig":
    """Hezar's default ``generation`` block: 4 beams, length penalty 2, no repeated trigram, 64 tokens at most."""
    return Image2TextGenerationConfig(bos_token_id=0, decoder_start_token_id=0, early_stopping=True, eos_token_id=2,
                                      length_penalty=2.0, max_length=64, no_repeat_ngram_size=3, num_beams=4,
                                      pad_token_id=pad_token_id)


@dataclass
class Image2TextGenerationConfig(ConfigBlock, Config):
    """How ``generate``, ``predict`` and the Trainer's evaluation decode: the 🤗 ``GenerationConfig`` keys Hezar
    writes, with 🤗's defaults.

    Args:
        bos_token_id: the decoder's first token when ``decoder_start_token_id`` is None.
        decoder_start_token_id: the first decoder input, in teacher forcing and in generation.
        return_dict_in_generate: kept for Hezar; only false (``generate`` returns ids) is implemented.
        early_stopping: beam search stop rule: true (once ``num_beams`` hypotheses finished), false, or ``never``.
        eos_token_id: ends a hypothesis; None = only ``max_length`` does.
        length_penalty: beam scores are ``sum log p / length ** length_penalty`` (0 = plain sums).
        max_length: most decoder tokens of a result, the start token included.
        no_repeat_ngram_size: no n-gram of this size occurs twice in a result (0 = off).
        num_beams: 1 = greedy decoding.
        pad_token_id: written after a finished row; None = ``eos_token_id`` (as 🤗).
    """

    bos_token_id: int | None = None
    decoder_start_token_id: int | None = None
    return_dict_in_generate: bool = False
    early_stopping: bool | str = False
    eos_token_id: int | None = None
    length_penalty: float = 1.0
    max_length: int = 20
    no_repeat_ngram_size: int = 0
    num_beams: int = 1
    pad_token_id: int | None = None

    is_generic: ClassVar[bool] = False

    @property
    def start_token_id(self) -> int | None:
        """The decoder's first token: ``decoder_start_token_id``, else ``bos_token_id`` (🤗's fallback)."""
        return self.decoder_start_token_id if self.decoder_start_token_id is not None else self.bos_token_id

    @property
    def fill_token_id(self) -> int | None:
        """What follows a finished row: ``pad_token_id``, else ``eos_token_id``."""
        return self.pad_token_id if self.pad_token_id is not None else self.eos_token_id

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        problems += generation_problems(self)
        if self.return_dict_in_generate:
            problems.append("return_dict_in_generate: true is not implemented (generate returns the ids); set false")
        if self.max_length < 2:
            problems.append(f"max_length: {self.max_length} leaves no generated token (the start token counts); "
                            "use at least 2")
        if self.no_repeat_ngram_size < 0:
            problems.append(f"no_repeat_ngram_size: {self.no_repeat_ngram_size} must be >= 0 (0 = off)")
        if self.start_token_id is None:
            problems.append("decoder_start_token_id: null and bos_token_id is null too; the decoder needs a first "
                            "token (set decoder_start_token_id)")
        return problems


# (block field, its class): dicts given in Python become these, as Hezar reads them from a file.
_BLOCKS = {"encoder": ViTEncoderConfig, "decoder": RobertaDecoderConfig, "generation": Image2TextGenerationConfig}


@dataclass
class VisionEncoderDecoderConfig(ModelConfig):
    """What Hezar's ViT + RoBERTa image-to-text configs share (subclasses set the name and the padding defaults).

    Args:
        encoder: the ViT (:class:`~hezar_accel.models.vit.config.ViTEncoderConfig`); a mapping is accepted.
        decoder: the RoBERTa causal LM (:class:`~hezar_accel.models.roberta.decoder.RobertaDecoderConfig`);
            ``is_decoder`` and ``add_cross_attention`` must be true. When its ``hidden_size`` differs from the
            encoder's, the encoder states are projected (``enc_to_dec_proj``), as in 🤗's ``VisionEncoderDecoderModel``.
        generation: decoding settings (:class:`Image2TextGenerationConfig`).
    """

    task: str = TaskType.IMAGE2TEXT.value
    encoder: ViTEncoderConfig = field(default_factory=ViTEncoderConfig)
    decoder: RobertaDecoderConfig = field(default_factory=lambda: hezar_decoder(pad_token_id=2))
    generation: Image2TextGenerationConfig = field(default_factory=lambda: hezar_generation(pad_token_id=2))

    is_generic: ClassVar[bool] = False

    def __post_init__(self):
        # Hezar's users pass the blocks as dicts; they mean what the same keys mean in a file.
        problems = []
        for name, block_class in _BLOCKS.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                try:
                    setattr(self, name, block_class.from_dict(value))
                except ConfigError as e:
                    problems += [f"{name}.{p}" for p in e.problems]
        if problems:
            raise ConfigError(type(self).__name__, problems)
        super().__post_init__()

    def image_processor_config(self) -> ImageProcessorConfig:
        """The image processor this encoder reads: the encoder's size, gray scale for one channel, and ViT's usual
        scaling (0-255 rescaled to 0-1, then mean and std 0.5 per channel, giving -1..1), all Hezar keys.

        Returns:
            An :class:`~hezar_accel.preprocessors.image_processor.ImageProcessorConfig`.
        """
        height, width = self.encoder.image_height_width
        channels = self.encoder.num_channels
        return ImageProcessorConfig(size=[width, height], rescale=1 / 255, mean=[0.5] * channels,
                                    std=[0.5] * channels, gray_scale=channels == 1)

    @property
    def is_encoder_decoder(self) -> bool:
        """Always true: the metrics read it to decode generated ids with the tokenizer."""
        return True

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        d, g = self.decoder, self.generation
        for flag in ("is_decoder", "add_cross_attention"):
            if not getattr(d, flag):
                problems.append(f"decoder.{flag}: false builds a RoBERTa that never sees the image (🤗's default when "
                                f"the key is missing); set {flag}: true")
        if not d.tie_word_embeddings:
            problems.append("decoder.tie_word_embeddings: false is not implemented (the LM head is the word table); "
                            "set true")
        ids = {"start token (generation.decoder_start_token_id / bos_token_id)": g.start_token_id,
               "generation.eos_token_id": g.eos_token_id, "generation.pad_token_id": g.pad_token_id}
        for name, value in ids.items():
            if value is not None and not 0 <= value < d.vocab_size:
                problems.append(f"{name}: {value} is not an id of the decoder's vocabulary (0..{d.vocab_size - 1})")
        if g.max_length > d.max_input_length:
            problems.append(f"generation.max_length: {g.max_length} exceeds the decoder's {d.max_input_length} "
                            f"positions (max_position_embeddings {d.max_position_embeddings} after pad_token_id "
                            f"{d.pad_token_id}); lower max_length or enlarge the position table")
        return problems
