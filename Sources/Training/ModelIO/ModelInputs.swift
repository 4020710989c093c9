import Foundation
import ModelFool
import ModelFoolData

/// Turning files into inputs a given model accepts: images through the pipeline its
/// `preprocessing` string describes, HDF5 image stacks, CSV rows of encoded columns, and the
/// evaluation data sets of the CLI (catalogue name, image folder, HDF5 file).
public enum ModelInputs {
  /// The image pipeline a model's `preprocessing` string asks for, or nil for a non-image model.
  ///
  /// The string is `;`-separated steps: `scale=1/255` (divisor 255) or `scale=1` (divisor 1),
  /// `resize=256` or `resize=256(bicubic)` (shorter side; resampling is always Pillow-exact bicubic),
  /// `crop=224`, and optionally a value mapping the *caller* must do: `then normalize
  /// mean=a,b,c std=a,b,c (not inside model)` or `then (255x-127)/128 (not inside model)`. A step
  /// starting `inside model:` is done by the network and ignored here. Without `resize`/`crop`
  /// images are used at their own size (which must then be the model's).
  public static func imagePreprocessing(for model: Model) throws -> ImagePreprocessing? {
    guard model.inputShape.count == 3 else { return nil }
    var steps = ImagePreprocessing(resizeShorterSide: nil, centerCrop: nil, divisor: 1)
    for raw in model.preprocessing.split(separator: ";") {
      let step = raw.trimmingCharacters(in: .whitespaces)
      if step.isEmpty || step.hasPrefix("inside model") { continue }
      if step.hasPrefix("scale=") {
        let value = step.dropFirst(6)
        if value == "1/255" { steps.divisor = 255 } else if let v = Float(value), v > 0 { steps.divisor = 1 / v } else {
          throw DataError("model preprocessing '\(model.preprocessing)': cannot read step '\(step)'")
        }
      } else if step.hasPrefix("resize=") {
        steps.resizeShorterSide = Int(step.dropFirst(7).prefix { $0.isNumber })
      } else if step.hasPrefix("crop=") {
        steps.centerCrop = Int(step.dropFirst(5))
      } else if step.hasPrefix("then (255x-127)/128") {
        steps.mean = [127 / 255, 127 / 255, 127 / 255]
        steps.std = [128 / 255, 128 / 255, 128 / 255]
      } else if step.hasPrefix("then normalize") {
        func values(_ key: String) throws -> [Float] {
          guard let range = step.range(of: key + "=") else {
            throw DataError("model preprocessing '\(model.preprocessing)': no \(key)= in '\(step)'")
          }
          let list = step[range.upperBound...].prefix { !$0.isWhitespace }.split(separator: ",").compactMap { Float($0) }
          guard list.count == 3 else { throw DataError("model preprocessing '\(model.preprocessing)': \(key) needs 3 values") }
          return list
        }
        steps.mean = try values("mean")
        steps.std = try values("std")
      } else {
        throw DataError("model preprocessing '\(model.preprocessing)': unknown step '\(step)'")
      }
    }
    return steps
  }

  /// Checks that `inputs` is a batch of the model's examples; the error names both shapes.
  public static func checkShape(_ inputs: Tensor, for model: Model, source: String) throws {
    let example = Array(inputs.shape.dropFirst())
    guard example == model.inputShape else {
      throw DataError("\(source): inputs of shape \(example) per example, but \(model.architecture) expects \(model.inputShape)")
    }
  }

  /// One image file as a `[1] + inputShape` tensor for `model` (grayscale models get the
  /// ITU-R 601 luma `(299 R + 587 G + 114 B) / 1000`, as Pillow's `convert("L")`).
  public static func image(_ path: String, for model: Model) throws -> Tensor {
    guard let steps = try imagePreprocessing(for: model) else {
      throw DataError("\(path): \(model.architecture) takes rows of \(model.inputShape) columns, not images")
    }
    let file = try ImageFile.read(path)
    let image = try steps.geometry(rgb: file.rgb, width: file.width, height: file.height, source: path)
    let channels = model.inputShape[0]
    guard image.height == model.inputShape[1], image.width == model.inputShape[2], channels == 3 || channels == 1 else {
      throw DataError(
        "\(path): image gives input [\(channels), \(image.height), \(image.width)], but \(model.architecture) expects \(model.inputShape)")
    }
    let plane = image.width * image.height
    let storage = TensorStorage(uninitializedCount: 3 * plane)
    steps.normalize(rgb: image.rgb, width: image.width, height: image.height, into: storage.pointer)
    return luma(Tensor(shape: [1, 3, image.height, image.width], storage: storage), channels: channels)
  }

  /// An RGB batch `[N, 3, H, W]` for a model of `channels` input channels: itself for 3, the
  /// ITU-R 601 luma `0.299 R + 0.587 G + 0.114 B` (Pillow's `convert("L")`) for 1.
  static func luma(_ rgb: Tensor, channels: Int) -> Tensor {
    guard channels == 1, rgb.rank == 4, rgb.shape[1] == 3 else { return rgb }
    let weights = Tensor(shape: [1, 3, 1, 1], scalars: [0.299, 0.587, 0.114])
    return (rgb * weights).sum(alongAxes: [1], keepingDimensions: true)
  }

  /// Decodes one image file into one example for `model` (the pipeline of ``image(_:for:)``,
  /// written straight into `destination`): what a streamed data set runs on its decoding threads.
  public static func exampleDecoder(for model: Model) throws
    -> @Sendable (_ path: String, _ destination: UnsafeMutablePointer<Float>) throws -> Void
  {
    guard let steps = try imagePreprocessing(for: model) else {
      throw DataError("\(model.architecture) takes rows of \(model.inputShape) columns, not images")
    }
    let shape = model.inputShape, architecture = model.architecture
    guard shape[0] == 3 || shape[0] == 1 else {
      throw DataError("\(architecture) takes \(shape[0]) input channels; images give 3 (or 1 as luma)")
    }
    return { path, destination in
      let file = try ImageFile.read(path)
      let image = try steps.geometry(rgb: file.rgb, width: file.width, height: file.height, source: path)
      guard image.height == shape[1], image.width == shape[2] else {
        throw DataError("\(path): image gives input [\(shape[0]), \(image.height), \(image.width)], but \(architecture) expects \(shape)")
      }
      let plane = image.width * image.height
      if shape[0] == 3 { return steps.normalize(rgb: image.rgb, width: image.width, height: image.height, into: destination) }
      var rgb = [Float](repeating: 0, count: 3 * plane)
      rgb.withUnsafeMutableBufferPointer { steps.normalize(rgb: image.rgb, width: image.width, height: image.height, into: $0.baseAddress!) }
      for i in 0..<plane { destination[i] = rgb[i] * 0.299 + rgb[plane + i] * 0.587 + rgb[2 * plane + i] * 0.114 }
    }
  }

  /// A split of an ILSVRC-2012 folder (``ILSVRCFolder``) streamed through `model`'s pipeline,
  /// limited to `limit` files spread evenly over it when given. `log` receives the line counting
  /// files named like images that are skipped as not regular files.
  public static func streamedImages(
    for model: Model, dataDir: String, split: ILSVRCFolder.Split, limit: Int? = nil, classIndex: String? = nil,
    valLabels: String? = nil, log: (String) -> Void
  ) throws -> ImageFolderSource {
    var (files, classNames) = try ILSVRCFolder.split(split, root: dataDir, classIndex: classIndex, valLabels: valLabels, log: log)
    if let limit, limit < files.count { files = files.subset((0..<limit).map { $0 * files.count / limit }) }
    if !model.classNames.isEmpty, model.classNames.count != classNames.count {
      throw DataError("\(dataDir): \(classNames.count) classes, but the model has \(model.classNames.count) outputs", settings: ["dataDir"])
    }
    return ImageFolderSource(
      name: "imagenet-\(split.rawValue)", files: files, classNames: model.classNames.isEmpty ? classNames : model.classNames,
      exampleShape: model.inputShape, decode: try exampleDecoder(for: model))
  }

  /// Rows of already-encoded columns from a CSV file (a header row of names is skipped when its
  /// first field is not a number), as `[rows, columns]`.
  public static func csvRows(_ path: String, for model: Model) throws -> Tensor {
    let bytes = try CSV.fileBytes(path: path)
    let firstLine = bytes.prefix { $0 != UInt8(ascii: "\n") }
    let firstField = String(decoding: firstLine.prefix { $0 != UInt8(ascii: ",") }, as: UTF8.self)
    let hasHeader = Float(firstField.trimmingCharacters(in: .whitespaces)) == nil
    let table = try CSV.parse(bytes, file: path, options: CSV.Options(trimSpaces: true, hasHeader: hasHeader))
    var values: [Float] = []
    for (r, row) in table.rows.enumerated() {
      for field in row {
        guard let v = Float(field) else {
          throw DataError("\(path): line \(table.lineNumbers[r]): '\(field)' is not a number")
        }
        values.append(v)
      }
    }
    guard !table.rows.isEmpty else { throw DataError("\(path): no rows") }
    let inputs = Tensor(shape: [table.rows.count, table.header.count], scalars: values)
    try checkShape(inputs, for: model, source: path)
    return inputs
  }

  /// The inputs of an HDF5 file: `images` (uint8 `N x H x W x 3`, through the model's pipeline)
  /// or `inputs` (Float32 `[N] + inputShape`, used as is).
  public static func hdf5(_ path: String, for model: Model) throws -> Tensor {
    let file = try HDF5File.open(path)
    let hasInputs = file.isDataset("inputs"), hasImages = file.isDataset("images")
    try file.close()
    guard hasInputs || hasImages else {
      throw DataError("\(path): no 'images' (uint8 N x H x W x 3) or 'inputs' (float32 [N] + \(model.inputShape)) dataset")
    }
    let inputs: Tensor
    if hasInputs {
      let f = try HDF5File.open(path)
      defer { try? f.close() }
      inputs = try f.readTensor(at: "inputs")
    } else {
      inputs = try imageNetHDF5(path, for: model, requireLabels: false).inputs
    }
    try checkShape(inputs, for: model, source: path)
    return inputs
  }

  /// An HDF5 image stack as a data set for `model` (labels from `labels`, or zeros when absent and
  /// `requireLabels` is false).
  static func imageNetHDF5(_ path: String, for model: Model, requireLabels: Bool = true) throws -> Dataset {
    guard let steps = try imagePreprocessing(for: model) else {
      throw DataError("\(path): \(model.architecture) is not an image model")
    }
    let file = try HDF5File.open(path)
    let hasLabels = file.isDataset("labels")
    try file.close()
    if hasLabels || requireLabels {
      var data = try ImageNetDataset.loadHDF5(path, preprocessing: steps, classNames: model.classNames.isEmpty ? nil : model.classNames)
      data.inputs = luma(data.inputs, channels: model.inputShape[0])
      return data
    }
    // No labels (prediction only): run each image through the pipeline.
    let f = try HDF5File.open(path)
    defer { try? f.close() }
    try ImageBudget.checkImageStack(shape: try f.shape(at: "images"), source: path)
    let (shape, pixels) = try f.readUInt8(at: "images")
    guard shape.count == 4, shape[3] == 3 else {
      throw DataError("\(path): 'images' must be N x H x W x 3 uint8 RGB, found shape \(shape)")
    }
    let bytes = shape[1] * shape[2] * 3
    var batch: [Tensor] = []
    for n in 0..<shape[0] {
      var s = steps
      if s.centerCrop == shape[1], shape[1] == shape[2] { s.resizeShorterSide = nil; s.centerCrop = nil }
      batch.append(try s.tensor(rgb: Array(pixels[(n * bytes)..<((n + 1) * bytes)]), width: shape[2], height: shape[1],
                                source: "\(path) image \(n)"))
    }
    let inputs = luma(Tensor.concatenate(batch, alongAxis: 0), channels: model.inputShape[0])
    return Dataset(name: "hdf5", inputs: inputs, labels: [Int](repeating: 0, count: shape[0]), classNames: model.classNames)
  }

}
