"""The course as taught: 15 weeks of lectures and practica, and which lessons implement each part.

Pure data and a few lookups, no heavy imports, so the CLI can list the course instantly.

Item titles are the course home page's own: Japanese, Chinese and Korean copied verbatim from
the translated home pages (seeds 000, 001, 002), English from the English home page, whose
structure they mirror. Where a translated page left a title in English (Chinese week 12, Korean
weeks 10-11), so do we. One exception: the Korean page glosses two titles with a superscript
English term (`희소성<sup>Sparsity</sup>`, `정규화 잠재 변수<sup>Regularised latent</sup>`);
the HTML gloss is dropped here, the English title carries it.

The lessons declare which parts they implement (`parts=` in each lesson's `@experiment`); this
module only holds the course's own structure.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from dlcourse.i18n import LANGUAGES

LECTURE, PRACTICUM = "lecture", "practicum"


@dataclass(frozen=True)
class Item:
    """One part of a week: a lecture (NN-1, NN-2) or a practicum (NN-3; weeks 4 and 15 differ)."""

    id: str
    kind: str
    en: str
    ja: str
    zh: str
    ko: str

    @property
    def week(self) -> int:
        return int(self.id[:2])

    def title(self, lang: str) -> str:
        return getattr(self, _check_lang(lang))


# The kinds follow the English page: the translated pages label a few rows differently (the Korean
# page calls week 5's lectures 실습, the Chinese page leaves "Practicum"/"Lecture" in English).
_ITEMS = (
    # week 1
    Item("01-1", LECTURE, "History and motivation",
         ja="歴史とモチベーション", zh="历史及动力", ko="딥러닝의 등장과 역사"),
    Item("01-2", LECTURE, "Evolution and Deep Learning",
         ja="発展と深層学習", zh="发展及深度学习", ko="딥러닝의 발전"),
    Item("01-3", PRACTICUM, "Neural nets (NN)",
         ja="ニューラルネット(NN)", zh="神经网络 NN", ko="신경망 (NN)"),
    # week 2
    Item("02-1", LECTURE, "SGD and backpropagation",
         ja="SGDと誤差逆伝播法", zh="随机梯度下降 SGD 及反向传播", ko="확률적 경사 하강법과 역전파"),
    Item("02-2", LECTURE, "Backprop in practice",
         ja="実用的な誤差逆伝播法", zh="反向传播详解", ko="경사하강법의 적용"),
    Item("02-3", PRACTICUM, "NN training",
         ja="NNの訓練", zh="训练神经网络", ko="신경망의 학습"),
    # week 3
    Item("03-1", LECTURE, "Parameter transformation",
         ja="パラメータ変換", zh="参数转换", ko="매개변수 변환"),
    Item("03-2", LECTURE, "CNN",
         ja="CNN", zh="卷积神经网络 CNN", ko="합성곱 신경망"),
    Item("03-3", PRACTICUM, "Natural signals properties",
         ja="自然界の信号の特性", zh="自然信号的性质", ko="자연 신호의 성질"),
    # week 4
    Item("04-1", PRACTICUM, "1D convolution",
         ja="1D畳み込み", zh="一维卷积", ko="1D 합성곱"),
    # week 5
    Item("05-1", LECTURE, "Optimisation I",
         ja="最適化手法I", zh="优化工具 I", ko="최적화 I"),
    Item("05-2", LECTURE, "Optimisation II",
         ja="最適化手法II", zh="优化方法 II", ko="최적화 II"),
    Item("05-3", PRACTICUM, "CNN, autograd",
         ja="CNN、自動微分", zh="了解卷积和自动微分引擎", ko="CNN, autograd"),
    # week 6
    Item("06-1", LECTURE, "CNN applications",
         ja="CNNの応用技術", zh="卷积神经网络的用途", ko="CNN의 적용"),
    Item("06-2", LECTURE, "RNN and attention",
         ja="RNNと注意機構", zh="循环神经网路和注意力", ko="순환 신경망과 어텐션"),
    Item("06-3", PRACTICUM, "RNN training",
         ja="RNNの訓練", zh="训练循环神经网路", ko="RNN의 학습"),
    # week 7
    Item("07-1", LECTURE, "Energy based models",
         ja="エネルギーベースモデル(EBM)", zh="能量基础模型", ko="에너지 기반 모델"),
    Item("07-2", LECTURE, "SSL, EBM",
         ja="自己教師あり学習(SSL)、EBM", zh="自我监督学习(SSL)﹑能量基础模型(EBM)", ko="SSL, EBM"),
    Item("07-3", PRACTICUM, "Autoencoders",
         ja="自己符号化器", zh="自动编码器", ko="오토인코더"),
    # week 8
    Item("08-1", LECTURE, "Contrastive methods",
         ja="対照学習法", zh="对比法", ko="대조적 방법"),
    Item("08-2", LECTURE, "Regularised latent",
         ja="正則化された潜在変数をもつEBM", zh="对潜在进行正则化", ko="정규화 잠재 변수"),
    Item("08-3", PRACTICUM, "Training VAEs",
         ja="変分自己符号化器(VAE)の訓練", zh="训练变分自编码器", ko="VAE의 학습"),
    # week 9
    Item("09-1", LECTURE, "Sparsity",
         ja="スパース性", zh="稀疏性", ko="희소성"),
    Item("09-2", LECTURE, "World model, GANs",
         ja="世界モデル、GAN", zh="世界模型﹑对抗性生成网络(GANs)", ko="세계 모델과 생산적 적대 신경망"),
    Item("09-3", PRACTICUM, "Training GANs",
         ja="GANの訓練", zh="训练对抗性生成网络(GANs)", ko="GAN의 학습"),
    # week 10
    Item("10-1", LECTURE, "CV SSL I",
         ja="コンピュータビジョンにおける自己教師あり学習I", zh="CV自我监督学习一", ko="CV SSL I"),
    Item("10-2", LECTURE, "CV SSL II",
         ja="コンピュータビジョンにおける自己教師あり学習II", zh="CV自我监督学习二", ko="CV SSL II"),
    Item("10-3", PRACTICUM, "Predictive Control",
         ja="予測制御", zh="有预测性的控制", ko="Predictive Control"),
    # week 11
    Item("11-1", LECTURE, "Activations",
         ja="活性化関数", zh="激活值", ko="활성화 함수"),
    Item("11-2", LECTURE, "Losses",
         ja="ロス関数", zh="损失", ko="손실 함수"),
    Item("11-3", PRACTICUM, "PPUU",
         ja="不確実な状況下における制御と計画", zh="不确定性下的预测和策略学习(PPUU)", ko="PPUU"),
    # week 12
    Item("12-1", LECTURE, "DL for NLP I",
         ja="自然言語処理のための深層学習I", zh="DL for NLP I", ko="NLP를 위한 딥러닝 I"),
    Item("12-2", LECTURE, "DL for NLP II",
         ja="自然言語処理のための深層学習II", zh="DL for NLP II", ko="NLP를 위한 딥러닝 II"),
    Item("12-3", PRACTICUM, "Attention & transformer",
         ja="注意機構 & トランスフォーマ", zh="Attention & transformer", ko="어텐션 & 트렌스포머"),
    # week 13
    Item("13-1", LECTURE, "GCN I",
         ja="グラフ畳み込みネットワーク I", zh="图形卷积网络 I", ko="그래프 합성곱 신경망 I"),
    Item("13-2", LECTURE, "GCN II",
         ja="グラフ畳み込みネットワーク II", zh="图形卷积网络 II", ko="그래프 합성곱 신경망 II"),
    Item("13-3", PRACTICUM, "GCN III",
         ja="グラフ畳み込みネットワーク III", zh="图形卷积网络 III", ko="그래프 합성곱 신경망 III"),
    # week 14
    Item("14-1", LECTURE, "Structured Prediction",
         ja="構造化予測", zh="用于结构化预测的深度学习", ko="구조화된 예측"),
    Item("14-2", LECTURE, "Graphical methods",
         ja="グラフ手法", zh="图形能量基礎方式", ko="그래프 기반 방법"),
    Item("14-3", PRACTICUM, "Regularisation and Bayesian",
         ja="正則化とベイズ", zh="正则化和贝叶斯", ko="과적합과 정규화"),
    # week 15
    Item("15-1", PRACTICUM, "Inference for LV-EBMs",
         ja="潜在変数EBMの推論", zh="潜在变量基于能量的模型（EBM）的推论", ko="Latent-Variable EBM의 추론"),
    Item("15-2", PRACTICUM, "Training LV-EBMs",
         ja="潜在変数EBMの学習", zh="训练潜在变量能量基础模型（EBM）", ko="Latent-Variable EBM의 학습"),
)

WEEKS: dict[int, tuple[Item, ...]] = {
    week: tuple(item for item in _ITEMS if item.week == week) for week in range(1, 16)
}
ITEMS: dict[str, Item] = {item.id: item for item in _ITEMS}


def _check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


def _unknown(kind: str, value: str, known) -> KeyError:
    close = difflib.get_close_matches(value, list(known), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return KeyError(f"unknown {kind} {value!r}{hint}")


def lessons_for_item(item_id: str) -> list[str]:
    """Names of the lessons that implement a syllabus item ("02-3"), ordered by week then name."""
    from dlcourse import registry

    if item_id not in ITEMS:
        raise _unknown("syllabus item", item_id, ITEMS)
    return [lesson.name for lesson in registry.lessons() if item_id in lesson.parts]


def weeks(lang: str = "en") -> list[dict]:
    """The 15 weeks, titles in `lang`: [{"week", "items": [{"id", "kind", "title", "lessons"}],
    "lessons"}]; a week's lessons are those implementing any of its items, in catalogue order."""
    from dlcourse import registry

    _check_lang(lang)
    order = [lesson.name for lesson in registry.lessons()]
    out = []
    for week, items in WEEKS.items():
        rows = [{"id": it.id, "kind": it.kind, "title": it.title(lang),
                 "lessons": lessons_for_item(it.id)} for it in items]
        names = {name for row in rows for name in row["lessons"]}
        out.append({"week": week, "items": rows, "lessons": [n for n in order if n in names]})
    return out
