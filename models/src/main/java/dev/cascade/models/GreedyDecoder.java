package dev.cascade.models;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The decoding loop: batched greedy decoding over any forward pass, without a key/value cache.
 *
 * <p>Every step runs all active rows at once, left-padded to the longest (positions come from the
 * attention mask, so padding changes nothing). A row leaves the batch when it produces the
 * end-of-sequence token or reaches its token limit, so later steps only pay for rows still
 * generating. Knows nothing of tokenizers or engines.
 */
public final class GreedyDecoder {

  /** One forward pass. */
  @FunctionalInterface
  public interface ForwardPass {
    NextTokenScores run(DecodeStep step);
  }

  private final long pad;
  private final long eos;

  public GreedyDecoder(long padId, long eosId) {
    this.pad = padId;
    this.eos = eosId;
  }

  /**
   * Decodes every prefix (prompt ids followed by the separator) greedily, all rows in one batch.
   *
   * @param maxNewTokens per row, the most tokens to generate
   */
  public List<Generation> decode(List<long[]> prefixes, int[] maxNewTokens, ForwardPass model,
      TextGenerator.Cancellation cancellation, Function<int[], String> detokenizer) {
    List<DecodingRow> rows = new ArrayList<>(prefixes.size());
    for (int i = 0; i < prefixes.size(); i++) {
      rows.add(new DecodingRow(prefixes.get(i), maxNewTokens[i]));
    }
    List<DecodingRow> active = new ArrayList<>();
    for (DecodingRow row : rows) {
      if (!row.finished) {
        active.add(row);
      }
    }
    int steps = 0;
    while (!active.isEmpty()) {
      if (cancellation.isCancelled()) {
        throw new GenerationCancelledException(steps);
      }
      step(active, model);
      active.removeIf(row -> row.finished);
      steps++;
    }
    List<Generation> out = new ArrayList<>(rows.size());
    for (DecodingRow row : rows) {
      out.add(row.toGeneration(detokenizer));
    }
    return out;
  }

  /** Runs one forward pass over the given unfinished rows and appends each row's greedy choice. */
  void step(List<DecodingRow> active, ForwardPass model) {
    int length = 0;
    for (DecodingRow row : active) {
      length = Math.max(length, row.length());
    }
    int batch = active.size();
    long[] ids = new long[batch * length];
    long[] mask = new long[batch * length];
    for (int r = 0; r < batch; r++) {
      active.get(r).fill(ids, mask, r, length, pad);
    }
    NextTokenScores scores = model.run(new DecodeStep(ids, mask, batch, length));
    for (int r = 0; r < batch; r++) {
      TokenDistribution.Choice choice = TokenDistribution.greedy(scores.logits(), r * scores.vocab(), scores.vocab());
      active.get(r).accept(choice, eos, scores.hidden(), r * scores.width(), scores.width());
    }
  }
}
