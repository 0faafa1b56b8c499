package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** What serve logs of its tiers once their servers say what they serve (LargeModel/Info). */
class TierChecksTest {

  private final List<String> lines = new ArrayList<>();

  private static LargeModelTransport.ServerInfo info(String model, long parameters, String tokenizer) {
    return new LargeModelTransport.ServerInfo(OptionalInt.of(64), Optional.of(tokenizer), OptionalInt.of(512),
        Optional.of(model), OptionalLong.of(parameters));
  }

  private static EscalationTiers three() {
    return CascadeRouter.connectTiers(CascadeConfig.load(null, Map.of(), Map.of(
        "tiers", "medium=127.0.0.1:1,large=127.0.0.1:2", "cost.tiers.per-token", "4.5,12.8",
        "policy.tier-rules", "chow-sum:9")), "");
  }

  private TierChecks checks(EscalationTiers tiers, boolean namesConfigured) {
    return new TierChecks(tiers, "small", 1_000, Optional.of("aaa"), namesConfigured,
        (level, line) -> lines.add(level + " " + line));
  }

  @Test
  void tiersInTheWrongOrderAreOneWarningNamingEachModelAndItsSizeOnceBothHaveSaidIt() {
    try (EscalationTiers tiers = three()) {
      TierChecks checks = checks(tiers, true);
      // The servers swapped: "medium" is served by the large model, and answers first.
      checks.answered(1, info("medium", 9_000, "aaa"));
      assertThat(lines).noneMatch(l -> l.startsWith("WARN"));
      // large answers later (it was down at start): now the order is known, and wrong.
      checks.answered(2, info("large", 4_000, "aaa"));
      assertThat(lines).filteredOn(l -> l.startsWith("WARN")).singleElement().asString()
          .contains("do not grow along tiers")
          .contains("small (tier 0, 1,000 parameters) then medium (tier 1, 9,000 parameters, cost 4.5 per token)"
              + " then large (tier 2, 4,000 parameters, cost 12.8 per token)");
      assertThat(lines).anyMatch(l -> l.startsWith("INFO tier large (") && l.contains("serves model large, 4,000"
          + " parameters, tokenizer sha256 aaa"));
    }
  }

  @Test
  void aTierServingAnotherModelOrTokenizerIsAWarningSayingWhatItDisables() {
    try (EscalationTiers tiers = three()) {
      TierChecks checks = checks(tiers, true);
      checks.answered(1, info("other-7b", 5_000, "bbb"));
      assertThat(lines).anyMatch(l -> l.startsWith("WARN tier medium (") && l.contains("serves model other-7b"));
      assertThat(lines).anyMatch(l -> l.startsWith("WARN tier medium (") && l.contains("another tokenizer")
          && l.contains("no speculative draft") && l.contains("do not check prompts against its prompt limit"));
      checks.answered(2, info("large", 9_000, "aaa"));
      assertThat(lines).filteredOn(l -> l.startsWith("WARN")).hasSize(2);
    }
  }

  @Test
  void aSingleLargeTargetsDefaultNameIsNotComparedWithTheServedModel() {
    try (EscalationTiers one = CascadeRouter.connectTiers(CascadeConfig.load(null, Map.of(), Map.of()), "127.0.0.1:1")) {
      checks(one, false).answered(1, info("llama-70b", 9_000, "aaa"));
      assertThat(lines).noneMatch(l -> l.startsWith("WARN"));
    }
  }
}
