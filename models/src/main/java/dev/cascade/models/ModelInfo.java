package dev.cascade.models;

/**
 * What a loaded model is.
 *
 * @param name the model's name ("small", "large", or the directory it came from)
 * @param engine the DJL engine actually used ("OnnxRuntime" or "TensorRT")
 * @param parameters the number of trainable parameters, or -1 when unknown
 * @param contextLength the most positions the model takes (prompt, separator and output)
 * @param maxNewTokensLimit the most tokens one call may ask for
 * @param hasEmbedding whether generations carry an embedding
 */
public record ModelInfo(String name, String engine, long parameters, int contextLength, int maxNewTokensLimit,
    boolean hasEmbedding) {}
