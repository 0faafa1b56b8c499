package dev.cascade.models;

/**
 * The input of one forward pass: a left-padded batch of token ids and its attention mask,
 * row-major, {@code rows} × {@code length}.
 */
public record DecodeStep(long[] inputIds, long[] attentionMask, int rows, int length) {}
