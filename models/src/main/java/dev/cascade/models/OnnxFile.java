package dev.cascade.models;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * What an ONNX file says about itself, read from its protobuf without loading it into a runtime
 * (weights stored in the file are skipped, not kept): the graph's outputs, the external data files
 * its tensors reference (Optimum's {@code model.onnx_data} for a model over 2 GB), and how many
 * values its initializers hold. Field numbers are onnx.proto's; no generated classes are needed.
 *
 * @param outputs the main graph's output names, in order
 * @param externalData the {@code location} of every external data file a tensor references
 *     (initializers, sparse initializers, constants, in the main graph, subgraphs and functions),
 *     as written in the file (relative to its directory), sorted, each once
 * @param initializerValues the number of values of every initializer (the product of its dims), in
 *     the main graph and its subgraphs: the model's parameter count, as stored
 */
public record OnnxFile(List<String> outputs, List<String> externalData, long initializerValues) {

  public OnnxFile {
    outputs = List.copyOf(outputs);
    externalData = List.copyOf(externalData);
  }

  /** The output a model's embedding comes from ({@code hidden}). */
  public boolean hasHiddenOutput() {
    return outputs.contains(StepTranslator.HIDDEN);
  }

  /**
   * The external data files, resolved against the ONNX file's directory.
   *
   * @throws IllegalArgumentException for a location that is absolute or leaves that directory
   */
  public List<Path> externalDataFiles(Path modelFile) {
    return externalDataFiles(modelFile, externalData);
  }

  /**
   * External data {@code locations} (as {@link #externalData()} gives them) resolved against the
   * directory of {@code modelFile}, in the same order.
   *
   * @throws IllegalArgumentException for a location that is absolute or leaves that directory
   */
  public static List<Path> externalDataFiles(Path modelFile, List<String> locations) {
    Path dir = modelFile.toAbsolutePath().normalize().getParent();
    List<Path> files = new ArrayList<>();
    for (String location : locations) {
      Path file = dir.resolve(location).normalize();
      if (Path.of(location).isAbsolute() || !file.startsWith(dir)) {
        throw new IllegalArgumentException("model: " + modelFile + " references external data '" + location
            + "' outside its directory; external data must sit beside the model file");
      }
      files.add(file);
    }
    return files;
  }

  /**
   * Reads an ONNX file.
   *
   * @throws IllegalArgumentException if it is not an ONNX model (a protobuf the reader cannot parse)
   * @throws UncheckedIOException if it cannot be read
   */
  public static OnnxFile read(Path modelFile) {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(modelFile), 1 << 16)) {
      CodedInputStream coded = CodedInputStream.newInstance(in);
      coded.setSizeLimit(Integer.MAX_VALUE);
      Reader reader = new Reader();
      reader.model(coded);
      return new OnnxFile(reader.outputs, List.copyOf(reader.locations), reader.values);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("model: " + modelFile + " is not an ONNX model: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + modelFile, e);
    }
  }

  /** One pass over the protobuf; every message it does not need is skipped. */
  private static final class Reader {
    final List<String> outputs = new ArrayList<>();
    final TreeSet<String> locations = new TreeSet<>();
    long values;

    // ModelProto
    void model(CodedInputStream in) throws IOException {
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        switch (WireFormat.getTagFieldNumber(tag)) {
          case 7 -> nested(in, tag, () -> graph(in, true)); // graph
          case 25 -> nested(in, tag, () -> function(in)); // functions
          default -> in.skipField(tag);
        }
      }
    }

    // GraphProto
    void graph(CodedInputStream in, boolean main) throws IOException {
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        switch (WireFormat.getTagFieldNumber(tag)) {
          case 1 -> nested(in, tag, () -> node(in)); // node
          case 5 -> nested(in, tag, () -> tensor(in, true)); // initializer
          case 15 -> nested(in, tag, () -> sparseTensor(in, true)); // sparse_initializer
          case 12 -> {
            if (main) {
              nested(in, tag, () -> outputs.add(valueInfoName(in))); // output
            } else {
              in.skipField(tag);
            }
          }
          default -> in.skipField(tag);
        }
      }
    }

    // FunctionProto
    void function(CodedInputStream in) throws IOException {
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        if (WireFormat.getTagFieldNumber(tag) == 7) { // node
          nested(in, tag, () -> node(in));
        } else {
          in.skipField(tag);
        }
      }
    }

    // NodeProto
    void node(CodedInputStream in) throws IOException {
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        if (WireFormat.getTagFieldNumber(tag) == 5) { // attribute
          nested(in, tag, () -> attribute(in));
        } else {
          in.skipField(tag);
        }
      }
    }

    // AttributeProto: tensors and subgraphs may hold external data
    void attribute(CodedInputStream in) throws IOException {
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        switch (WireFormat.getTagFieldNumber(tag)) {
          case 5, 10 -> nested(in, tag, () -> tensor(in, false)); // t, tensors
          case 6, 11 -> nested(in, tag, () -> graph(in, false)); // g, graphs
          case 22, 23 -> nested(in, tag, () -> sparseTensor(in, false)); // sparse_tensor, sparse_tensors
          default -> in.skipField(tag);
        }
      }
    }

    // SparseTensorProto
    void sparseTensor(CodedInputStream in, boolean initializer) throws IOException {
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        switch (WireFormat.getTagFieldNumber(tag)) {
          case 1 -> nested(in, tag, () -> tensor(in, initializer)); // values
          case 2 -> nested(in, tag, () -> tensor(in, false)); // indices
          default -> in.skipField(tag);
        }
      }
    }

    // TensorProto
    void tensor(CodedInputStream in, boolean initializer) throws IOException {
      long count = 1;
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        switch (WireFormat.getTagFieldNumber(tag)) {
          case 1 -> { // dims: unpacked varints, or packed
            if (WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
              int limit = in.pushLimit(in.readRawVarint32());
              while (in.getBytesUntilLimit() > 0) {
                count *= Math.max(0, in.readInt64());
              }
              in.popLimit(limit);
            } else {
              count *= Math.max(0, in.readInt64());
            }
          }
          case 13 -> nested(in, tag, () -> { // external_data: StringStringEntryProto
            String key = null;
            String value = null;
            for (int t = in.readTag(); t != 0; t = in.readTag()) {
              switch (WireFormat.getTagFieldNumber(t)) {
                case 1 -> key = in.readString();
                case 2 -> value = in.readString();
                default -> in.skipField(t);
              }
            }
            if ("location".equals(key) && value != null && !value.isEmpty()) {
              locations.add(value);
            }
          });
          default -> in.skipField(tag);
        }
      }
      if (initializer) {
        values += count;
      }
    }

    String valueInfoName(CodedInputStream in) throws IOException {
      String name = "";
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        if (WireFormat.getTagFieldNumber(tag) == 1) {
          name = in.readString();
        } else {
          in.skipField(tag);
        }
      }
      return name;
    }

    private interface Body {
      void read() throws IOException;
    }

    /** A length-delimited message: its body read within its limit. */
    private static void nested(CodedInputStream in, int tag, Body body) throws IOException {
      if (WireFormat.getTagWireType(tag) != WireFormat.WIRETYPE_LENGTH_DELIMITED) {
        in.skipField(tag); // not this field's wire type: not a message to read
        return;
      }
      int limit = in.pushLimit(in.readRawVarint32());
      body.read();
      in.checkLastTagWas(0);
      in.popLimit(limit);
    }
  }
}
