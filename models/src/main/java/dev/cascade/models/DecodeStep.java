package dev.cascade.models;

import java.nio.Buffer;

/**
 * The input of one forward pass: a left-padded batch of token ids and its attention mask,
 * row-major, {@code rows} × {@code length}.
 *
 * <p>For a model with a key/value cache ({@code cache} not null) the step also carries, per row,
 * the {@code position_ids} of its {@code length} new tokens, and the past keys and values:
 * {@code past[i]} is cache tensor i ({@link CacheLayout#pastName}) as [rows, heads,
 * {@code pastLength}, head_size] from the buffer's position to its limit (a {@code FloatBuffer}
 * for a float32 cache; for a float16 or bfloat16 one a {@code ByteBuffer} in native order holding
 * the 16-bit values), each row's past right-aligned (left-padded with zeros); the attention mask
 * then spans {@code pastLength + length} positions. A direct buffer in native order goes to ONNX Runtime as it is, without a copy
 * ({@link GreedyDecoder.ForwardPass#pastBuffer}).
 *
 * <p>{@code scored} is how many of each row's last positions the output scores: 1 for a decoding
 * step, more for a pass that checks a draft (the scores at the position before the draft and at
 * each draft token, see {@link GreedyDecoder}).
 */
public record DecodeStep(long[] inputIds, long[] attentionMask, int rows, int length, CacheLayout cache,
    long[] positionIds, Buffer[] past, int pastLength, int scored) {

  public DecodeStep {
    if (scored < 1 || scored > length) {
      throw new IllegalArgumentException("scored: " + scored + " positions is outside 1.." + length);
    }
  }

  /** A step scoring each row's last position. */
  public DecodeStep(long[] inputIds, long[] attentionMask, int rows, int length, CacheLayout cache,
      long[] positionIds, Buffer[] past, int pastLength) {
    this(inputIds, attentionMask, rows, length, cache, positionIds, past, pastLength, 1);
  }

  /** A step of a model without a cache. */
  public DecodeStep(long[] inputIds, long[] attentionMask, int rows, int length) {
    this(inputIds, attentionMask, rows, length, null, null, null, 0);
  }
}
