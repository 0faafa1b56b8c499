package dev.cascade.models;

/**
 * The output of one forward pass, reduced to what decoding needs: the logits at the last position
 * of every row ({@code rows} × {@code vocab}) and, when the model has a hidden-state output, the
 * hidden state there ({@code rows} × {@code width}; {@code null} otherwise).
 */
public record NextTokenScores(float[] logits, int rows, int vocab, float[] hidden, int width) {}
