"""The syllabus matches the course home pages, and every catalogued lesson hangs off it."""

import pytest

from dlcourse import registry, syllabus
from dlcourse.syllabus import ITEMS, WEEKS

LESSONS = {lesson.name: lesson for lesson in registry.lessons()}

LANGS = ("en", "ja", "zh", "ko")

# The 42 lessons of CATALOG.md, tracks A to D, in its order.
CATALOG_NAMES = [
    # A
    "logic_neurons", "space_stretching", "autograd", "spiral", "regression", "projections",
    "optimizers", "activations_losses", "logistic_regression", "tiny_net_222", "init_depth",
    # B
    "convnet", "natural_signals", "listening_kernels", "lenet_sliding", "normalization",
    "resnet_densenet", "regularization", "bayesian_nn", "unet_segmentation", "detection",
    "transfer_learning",
    # C
    "rnn_cells", "seq_classification", "echo", "attention_transformer", "char_lm", "seq2seq",
    "word_embeddings", "ctc", "gated_gcn", "spectral_graphs",
    # D
    "autoencoder", "vae", "gan", "sparse_coding", "contrastive_ssl", "ebm_latent", "ebm_losses",
    "truck_backer_upper", "ppuu_lite", "kmeans_ebm",
]

# Copied by hand from the seed pages (000 ja, 001 zh, 002 ko) and the English home page.
VERBATIM = [
    ("ja", "02-1", "SGDと誤差逆伝播法"),
    ("ja", "08-2", "正則化された潜在変数をもつEBM"),
    ("ja", "15-1", "潜在変数EBMの推論"),
    ("zh", "07-2", "自我监督学习(SSL)﹑能量基础模型(EBM)"),  # U+FE51, as on the page
    ("zh", "12-3", "Attention & transformer"),  # the Chinese page leaves week 12 in English
    ("zh", "15-1", "潜在变量基于能量的模型（EBM）的推论"),  # full-width parentheses
    ("ko", "02-1", "확률적 경사 하강법과 역전파"),
    ("ko", "12-3", "어텐션 & 트렌스포머"),
    ("ko", "15-2", "Latent-Variable EBM의 학습"),
    ("en", "01-1", "History and motivation"),
    ("en", "01-2", "Evolution and Deep Learning"),
    ("en", "01-3", "Neural nets (NN)"),
]


def test_fifteen_weeks_in_four_languages():
    assert list(WEEKS) == list(range(1, 16))
    assert sum(len(items) for items in WEEKS.values()) == len(ITEMS) == 42
    for week, items in WEEKS.items():
        for item in items:
            assert item.week == week and item.kind in ("lecture", "practicum")
            for lang in LANGS:
                title = item.title(lang)
                assert title.strip() == title and title, (item.id, lang)
                assert "<" not in title, (item.id, lang)  # no HTML left over from the pages


def test_week_shapes_follow_the_home_page():
    kinds = {week: [item.kind for item in items] for week, items in WEEKS.items()}
    assert kinds[4] == ["practicum"]  # week 4 is a practicum only
    assert kinds[15] == ["practicum", "practicum"]  # week 15 is two practica
    for week in set(WEEKS) - {4, 15}:
        assert kinds[week] == ["lecture", "lecture", "practicum"]
    assert [item.id for item in WEEKS[15]] == ["15-1", "15-2"]


@pytest.mark.parametrize("lang,item_id,title", VERBATIM)
def test_titles_are_the_seed_text(lang, item_id, title):
    assert ITEMS[item_id].title(lang) == title


def test_every_catalogued_lesson_is_there():
    assert sorted(LESSONS) == sorted(CATALOG_NAMES)


@pytest.mark.parametrize("name", CATALOG_NAMES)
def test_lesson_record(name):
    rec = registry.info(name)
    assert rec.name == name and rec.track in "ABCD" and len(rec.track) == 1
    assert rec.parts and all(item_id in ITEMS for item_id in rec.parts)
    assert rec.week == ITEMS[rec.parts[0]].week
    assert rec.sources and 0 < len(rec.title) <= 60
    assert name in syllabus.lessons_for_item(rec.parts[0])


def test_lesson_weeks_and_titles():
    assert registry.info("spiral").week == 2
    assert registry.info("logic_neurons").week == 1
    assert registry.info("truck_backer_upper").sources == ("10-3", "nb14")
    titles = [rec.title for rec in LESSONS.values()]
    assert len(set(titles)) == len(titles)  # titles are msgids: two lessons must not share one


def test_every_syllabus_item_has_a_lesson():
    assert [i for i in ITEMS if not syllabus.lessons_for_item(i)] == []


def test_lessons_for_item():
    assert syllabus.lessons_for_item("02-3") == ["regression", "spiral", "tiny_net_222"]
    with pytest.raises(KeyError, match="02-3"):
        syllabus.lessons_for_item("2-3")


@pytest.mark.parametrize("lang", LANGS)
def test_weeks_view(lang):
    weeks = syllabus.weeks(lang)
    assert [w["week"] for w in weeks] == list(range(1, 16))
    for w in weeks:
        assert [row["id"] for row in w["items"]] == [item.id for item in WEEKS[w["week"]]]
        for row in w["items"]:
            assert row["title"] == ITEMS[row["id"]].title(lang)
            assert set(row["lessons"]) <= set(w["lessons"])
        assert w["lessons"] and set(w["lessons"]) <= set(LESSONS)
    assert {"autograd", "spiral"} <= set(weeks[1]["lessons"])


def test_weeks_rejects_unknown_language():
    with pytest.raises(ValueError, match="en, ja, zh, ko"):
        syllabus.weeks("fr")
    with pytest.raises(ValueError):
        ITEMS["01-1"].title("de")
