package dev.cascade.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslatorContext;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;

/**
 * Tensors in and out of one forward pass of a decoder-only LM with the Hugging Face signature:
 * {@code input_ids}, {@code attention_mask} (int64 [batch, sequence]) → {@code logits} [batch,
 * sequence, vocab] and optionally {@code hidden} [batch, sequence, width]. Only the last position
 * of each row is read back.
 */
final class StepTranslator implements NoBatchifyTranslator<DecodeStep, NextTokenScores> {

  static final String INPUT_IDS = "input_ids";
  static final String ATTENTION_MASK = "attention_mask";
  static final String LOGITS = "logits";
  static final String HIDDEN = "hidden";

  @Override
  public NDList processInput(TranslatorContext ctx, DecodeStep step) {
    NDManager manager = ctx.getNDManager();
    Shape shape = new Shape(step.rows(), step.length());
    NDArray ids = manager.create(LongBuffer.wrap(step.inputIds()), shape, DataType.INT64);
    ids.setName(INPUT_IDS);
    NDArray mask = manager.create(LongBuffer.wrap(step.attentionMask()), shape, DataType.INT64);
    mask.setName(ATTENTION_MASK);
    return new NDList(ids, mask);
  }

  @Override
  public NextTokenScores processOutput(TranslatorContext ctx, NDList outputs) {
    NDArray logits = outputs.get(LOGITS) != null ? outputs.get(LOGITS) : outputs.get(0);
    Shape shape = logits.getShape();
    int rows = (int) shape.get(0);
    int length = (int) shape.get(1);
    int vocab = (int) shape.get(2);
    float[] last = lastPositions(logits, rows, length, vocab);
    NDArray hidden = outputs.get(HIDDEN);
    if (hidden == null) {
      return new NextTokenScores(last, rows, vocab, null, 0);
    }
    int width = (int) hidden.getShape().get(2);
    return new NextTokenScores(last, rows, vocab, lastPositions(hidden, rows, length, width), width);
  }

  private static float[] lastPositions(NDArray array, int rows, int length, int width) {
    FloatBuffer all = array.toByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
    float[] out = new float[rows * width];
    for (int r = 0; r < rows; r++) {
      all.get(((r * length) + length - 1) * width, out, r * width, width);
    }
    return out;
  }
}
