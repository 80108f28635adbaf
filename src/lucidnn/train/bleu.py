r"""Corpus BLEU through sacrebleu, the reference implementation (imported only when used).

BLEU-4 (Papineni et al. 2002) is the geometric mean of the clipped n-gram precisions
:math:`p_1..p_4` times a brevity penalty,

.. math:: \mathrm{BLEU} = \min\big(1, e^{1 - r/c}\big) \exp\Big(\tfrac14 \sum_{n=1}^{4} \log p_n\Big),

with c the hypotheses' and r the references' total length, reported on a 0-100 scale.
sacrebleu fixes the tokenisation so that scores are comparable: ``tokenize="zh"`` splits
Chinese into characters (character-level BLEU) and other scripts into words.

Reference: Post, "A Call for Clarity in Reporting BLEU Scores", WMT 2018 (sacrebleu).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _sacrebleu() -> Any:
    try:
        import sacrebleu  # noqa: PLC0415  (optional dependency, the ``text`` extra)
    except ImportError:
        raise ImportError("BLEU needs sacrebleu, which is not installed: pip install 'lucidnn[text]' "
                          "(or pip install sacrebleu)") from None
    return sacrebleu


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], *, tokenize: str = "zh") -> float:
    """Corpus BLEU-4 (0-100) of detokenised hypotheses against one reference each.

    Args:
        hypotheses: the system's sentences, as plain strings.
        references: one reference string per hypothesis.
        tokenize: sacrebleu's tokeniser: ``"zh"`` (default: Chinese characters), ``"13a"``
            (the WMT default for European languages), ``"char"``, ...

    Raises:
        ValueError: the two lists differ in length or are empty.
        ImportError: sacrebleu is missing (install the ``text`` extra).
    """
    hypotheses, references = [str(h) for h in hypotheses], [str(r) for r in references]
    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_bleu: {len(hypotheses)} hypotheses but {len(references)} references; "
                         "give one reference per hypothesis")
    if not hypotheses:
        raise ValueError("corpus_bleu: no sentences to score")
    return float(_sacrebleu().corpus_bleu(hypotheses, [references], tokenize=tokenize).score)


__all__ = ["corpus_bleu"]
