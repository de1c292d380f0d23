"""The papers' claims about training (ZGR Tables 1-3, Figs. 2 and 4 right; Shah et al.'s grids), checked by the
``training`` group (:mod:`gradlab.theory.training_group`) on the histories that the training-study scripts write."""

from __future__ import annotations

from gradlab.theory.core import SHAH, ZGR

__all__ = ["training_claims"]

_T2 = "The evidence supports similar claims as for linear VAEs, except that for Omniglot binary variables (C2) [...]"


def training_claims(claim) -> tuple:
    """The claims, built with the registry's ``Claim`` class (passed in: this module sits below the registry)."""

    def z(id, location, quote):
        return claim(id, ZGR, location, quote, "training")

    def s(id, location, quote):
        return claim(id, SHAH, location, quote, "training")

    return (
        z("table1.st-poor", "Sec. 4.1.2, Table 1, observation 1)", "ST performs poorly - its bias is too high."),
        z("table1.zgr-vs-gr-mc", "Sec. 4.1.2, Table 1, observation 2)", "ZGR performs no worse than GR-MC variants."),
        z(
            "table1.zgr-vs-rf",
            "Sec. 4.1.2, Table 1, observation 3)",
            "ZGR outperforms RF(2) and RF(4), significantly so with more categories.",
        ),
        z("table2.st-poor", "Sec. 4.1.3, Table 2", _T2 + " (observation 1: ST performs poorly)"),
        z("table2.zgr-vs-gr-mc", "Sec. 4.1.3, Table 2", _T2 + " (observation 2: ZGR no worse than GR-MC)"),
        z("table2.zgr-vs-rf", "Sec. 4.1.3, Table 2", _T2 + " (observation 3: ZGR outperforms RF(2) and RF(4))"),
        z(
            "tableB1.test-consistent",
            "Table 1 caption and App. B.3",
            "The test performance can be found in Table B.1. [...] the prior work (Dong et al., 2021) has verified "
            "that improvement in the training ELBO translates into improvement of the test ELBO and IWAE bounds.",
        ),
        z(
            "tableB2.test-consistent",
            "Table 2 caption",
            "The test performance in Table B.2 is consistent with the training performance.",
        ),
        z(
            "fig3.zgr-most-efficient",
            "Sec. 4.1.2, item 4), Fig. 3",
            "In the training progress versus computation time (Fig. 3) ZGR appears to be the most efficient.",
        ),
        z(
            "fig2.zgr-regret",
            "Sec. 4.1.2, Fig. 2 caption",
            "The regret of ZGR w.r.t. GR-MC at the optimal temperature is insignificant.",
        ),
        z(
            "table3.low-variance-best",
            "Sec. 4.3, Table 3",
            "The best results in Table 3 are obtained by methods with low variance, prominently ST and GS-ST(t=1).",
        ),
        z(
            "table3.rf-out",
            "Sec. 4.3, Table 3",
            "variance of RF is several orders larger than that of biased estimators and its test accuracy in Table 3 "
            "is quite out of the competition.",
        ),
        z(
            "table3.zgr-beats-gr-mc",
            "Sec. 4.3, Table 3",
            "Regarding the performance of ZGR we observe that it still outperforms GR-MC(t=0.1)",
        ),
        z(
            "sec4.3.variance-ranking",
            "Sec. 4.3",
            "Furthermore, the ranking of results in Table 3 is roughly similar to the ranking by the variance alone in "
            "Fig. 4 and Fig. B.3.",
        ),
        z(
            "sec4.1.3.variance-early",
            "Sec. 4.1.3",
            "We observed that the differences in the variance between the methods are larger in the beginning of the "
            "training",
        ),
        z(
            "fig4.pareto-frontier-quantized",
            "Sec. 4.2, Fig. 4 caption (right: quantized network at epoch 20)",
            "the set of non-dominated choices, the Pareto frontier, is represented by families of simple "
            "estimators: temperatured ST and interpolated ST-ZGR; and by the unbiased estimator with the lowest "
            "variance.",
        ),
        s(
            "shah.heatmap-best-off-diagonal",
            "first version, Sec. 5.1, Fig. 2 (reconstruction)",
            "configurations with higher backward temperatures and lower forward temperatures yielded the best "
            "reconstruction performance.",
        ),
        s(
            "shah.recon-plateau",
            "first version, Sec. 5.1.1, Fig. 2 (reconstruction)",
            "Specifically, performance plateaued when tau_f was set to 0.3 and tau_b reached 3. Beyond these values, "
            "further improvements in reconstruction loss were minimal",
        ),
        s(
            "shah.schedules-no-gain",
            "first version, App. B, Table B.1 (temperature schedules)",
            "Several scheduling strategies were tested, but the results indicate that scheduling yielded no "
            "substantial improvement over the fixed temperature settings.",
        ),
        s(
            "shah.gen-best-off-diagonal",
            "first version, Sec. 5.1.2, Figs. 3-4 (generation)",
            "In both setups, the best generative performance occurred in the lower triangle of the heatmap, where "
            "tau_f < tau_b. Similar to the reconstruction task, tuning a single temperature led to limited "
            "improvements",
        ),
        s(
            "shah.sbn-off-diagonal",
            "later version, Fig. 2 (stochastic binary networks)",
            "Decoupled ST [...] achieves [...] higher final accuracy than all baselines. The optimal configuration "
            "lies off the diagonal (tau_f != tau_b), confirming the benefit of decoupling.",
        ),
        s(
            "shah.sbn-faster",
            "later version, Fig. 2 (stochastic binary networks)",
            "Decoupled ST with tau_f = 0.1 and tau_b = 0.7 achieves faster convergence and higher final accuracy than "
            "all baselines.",
        ),
        s(
            "shah.cae-lowest-loss",
            "later version, Fig. 3 (categorical autoencoder)",
            "Decoupled ST achieves the lowest validation loss and consistent convergence across all seeds",
        ),
        s(
            "shah.cae-consistent-seeds",
            "later version, Fig. 3 (categorical autoencoder)",
            "Decoupled ST achieves the lowest validation loss and consistent convergence across all seeds, whereas "
            "baselines fail to converge reliably despite extensive temperature and learning rate tuning",
        ),
        s(
            "shah.cae-perplexity",
            "later version, Fig. 3 (categorical autoencoder)",
            "Decoupled ST achieves near-maximum utilization (about 7.9 out of 8), while baselines severely "
            "underutilize the available codes.",
        ),
        s(
            "shah.logic-gates",
            "later version, Fig. 4 (logic-gate networks)",
            "Decoupled ST with tau_f = 0.1 and tau_b = 2.0 achieves faster convergence and higher final accuracy "
            "than all baselines.",
        ),
        s(
            "shah.logic-gate-balance",
            "later version, Fig. 5 (gate distribution)",
            "Decoupled ST achieves the most balanced distribution, measured by perplexity (higher is more uniform, "
            "max is 16)",
        ),
    )
