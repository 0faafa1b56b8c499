package dev.cascade.models;

import com.google.protobuf.CodedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * Writes a protobuf message field by field, for ONNX graphs built by hand (the benchmark's matrix
 * product, test models) without the ONNX schema's generated classes.
 */
public final class ProtoMessages {

  private ProtoMessages() {}

  /** Writes a message's fields, in order. */
  @FunctionalInterface
  public interface Fields {
    void write(CodedOutputStream out) throws IOException;
  }

  /** The message's bytes. */
  public static byte[] message(Fields fields) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      CodedOutputStream out = CodedOutputStream.newInstance(bytes);
      fields.write(out);
      out.flush();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
