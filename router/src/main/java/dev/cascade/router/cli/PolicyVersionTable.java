package dev.cascade.router.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.router.learning.TierPhases;
import java.util.List;
import java.util.Locale;

/**
 * {@code eval --outcomes --by-policy-version}: what the requests each policy version's decisions
 * routed got, as a table or as JSON ({@code policy_versions}).
 */
final class PolicyVersionTable {

  private PolicyVersionTable() {}

  /**
   * One object per policy version: {@code policy_version}, {@code judged}, {@code unjudged}, {@code
   * passed_on}, {@code served_right}, {@code cost_per_request}, and with {@code value} {@code
   * value_per_request} and {@code value_standard_error}, and after the first version with requests
   * judged {@code compared_with} (the previous such version), {@code value_change} and {@code
   * value_change_standard_error}; null where nothing was judged.
   */
  static ArrayNode json(List<TierPhases.Phase> phases, Double value) {
    ArrayNode list = new ObjectMapper().createArrayNode();
    TierPhases.Phase before = null;
    for (TierPhases.Phase ph : phases) {
      ObjectNode one = list.addObject();
      one.put("policy_version", ph.policyVersion());
      one.put("judged", ph.reached());
      one.put("unjudged", ph.unjudged());
      number(one, "passed_on", ph.passedOn());
      number(one, "served_right", ph.right());
      number(one, "cost_per_request", ph.cost());
      if (value != null) {
        number(one, "value_per_request", ph.reached() == 0 ? Double.NaN : ph.utility(value));
        number(one, "value_standard_error", ph.utilityStandardError(value));
        if (before != null && ph.reached() > 0) {
          one.put("compared_with", before.policyVersion());
          number(one, "value_change", ph.utility(value) - before.utility(value));
          number(one, "value_change_standard_error", TierPhases.changeStandardError(before, ph, value));
        }
      }
      if (ph.reached() > 0) {
        before = ph;
      }
    }
    return list;
  }

  private static void number(ObjectNode node, String field, double x) {
    if (Double.isFinite(x)) {
      node.put(field, x);
    } else {
      node.putNull(field);
    }
  }

  /**
   * The table: a line per policy version, with what a request was worth at {@code value} when
   * given; {@code whose} names the decisions ("the small model's", "tier 1's").
   */
  static String text(List<TierPhases.Phase> phases, Double value, String whose) {
    StringBuilder out = new StringBuilder(String.format(Locale.ROOT, "%nby policy version (%s decisions; judged by"
        + " the reference, or by the feedback on it):%n", whose));
    if (phases.isEmpty()) {
      return out.append("no outcome reached it\n").toString();
    }
    out.append(String.format(Locale.ROOT, "%-8s %8s %9s %10s %13s %10s%s%n", "policy", "judged", "unjudged",
        "passed on", "served right", "cost", value == null ? ""
            : String.format(Locale.ROOT, " %24s", "worth at " + trim(value) + " (± s.e.)")));
    for (TierPhases.Phase ph : phases) {
      if (ph.reached() == 0) {
        out.append(String.format(Locale.ROOT, "%-8s %8d %9d %10s %13s %10s%n", "v" + ph.policyVersion(), 0,
            ph.unjudged(), "-", "-", "-"));
        continue;
      }
      out.append(String.format(Locale.ROOT, "%-8s %8d %9d %9.1f%% %12.1f%% %10.1f%s%n", "v" + ph.policyVersion(),
          ph.reached(), ph.unjudged(), 100 * ph.passedOn(), 100 * ph.right(), ph.cost(), value == null ? ""
              : String.format(Locale.ROOT, " %24s", TierPhases.plusMinus("%.1f", ph.utility(value),
                  ph.utilityStandardError(value)))));
    }
    if (value != null) {
      TierPhases.Phase before = null;
      for (TierPhases.Phase ph : phases) {
        if (ph.reached() == 0) {
          continue;
        }
        if (before != null) {
          out.append(TierPhases.change(before, ph, value)).append(" a request\n");
        }
        before = ph;
      }
    }
    return out.append("Versions cover different spells of traffic: a difference between two is the policy's and the"
        + " traffic's.\n").toString();
  }


  private static String trim(double value) {
    return value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value);
  }
}
