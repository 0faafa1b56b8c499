package dev.cascade.models;

/**
 * What a loaded model is.
 *
 * @param name the model's name ("small", "large", or the directory it came from)
 * @param engine the DJL engine actually used ("OnnxRuntime" or "TensorRT")
 * @param parameters the number of trainable parameters: the card's {@code parameters}, else the values of the
 *     ONNX file's initializers ({@link OnnxFile#initializerValues()}); -1 when neither gives one
 * @param contextLength the most positions the model takes (prompt, separator and output)
 * @param maxNewTokensLimit the most tokens one call may ask for
 * @param hasEmbedding whether generations carry an embedding (the model has a {@code hidden} output)
 * @param cache the model's key/value-cache inputs, or null when it has none
 * @param kvCache whether decoding keeps a key/value cache (a cache layout, and not disabled)
 */
public record ModelInfo(String name, String engine, long parameters, int contextLength, int maxNewTokensLimit,
    boolean hasEmbedding, CacheLayout cache, boolean kvCache) {

  /** A model without cache inputs. */
  public ModelInfo(String name, String engine, long parameters, int contextLength, int maxNewTokensLimit,
      boolean hasEmbedding) {
    this(name, engine, parameters, contextLength, maxNewTokensLimit, hasEmbedding, null, false);
  }
}
