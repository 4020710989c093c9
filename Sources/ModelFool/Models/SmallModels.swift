/// Builders for the small models trained in this project: the digits CNN and the tabular MLP.
enum SmallModels {
  /// `digits-cnn`: a small ReLU CNN for `[N, 1, 28, 28]` digits in [0, 1] with a global-average-pool
  /// head, so Grad-CAM on its last feature map equals CAM.
  ///
  /// ```
  /// features.0  Conv2D 1->c1, 3x3, pad 1      28x28
  /// features.1  ReLU
  /// features.2  MaxPool 2                     -> 14x14
  /// features.3  Conv2D c1->c2, 3x3, pad 1     14x14
  /// features.4  ReLU
  /// features.5  MaxPool 2                     -> 7x7
  /// features.6  Conv2D c2->c3, 3x3, pad 1     7x7   (last conv) <- target layer: input [N, c2, 7, 7]
  /// features.7  ReLU
  /// pool        GlobalAvgPool2D               [N, c3]
  /// classifier  Dense c3 -> classes
  /// ```
  /// The target layer mirrors Heo et al.'s choice for VGG19 (the input of the last conv): at the
  /// input of `pool` SimpleGrad_T would be spatially constant (the gradient of a global average is
  /// uniform) and LRP_T would equal CAM.
  /// Options: `channels` (default `32,64,128`), `classes` (10), `seed` (0). Kaiming-uniform init.
  static func digitsCNN(_ o: inout ModelOptions) throws -> Model {
    let ch = try o.intList("channels", default: [32, 64, 128])
    guard ch.count == 3 else { throw LayerError("digits-cnn: option channels needs 3 values, got \(ch.count)") }
    let classes = try o.int("classes", default: 10)
    var seeds = SeedSequence(try o.seed())
    func conv(_ i: Int, _ out: Int) -> Conv2D {
      Conv2D(inputChannels: i, outputChannels: out, kernelSize: 3, padding: 1, seed: seeds.next(), initialization: .kaimingUniform)
    }
    let features = Sequential {
      conv(1, ch[0])
      ActivationLayer(.relu)
      MaxPool2D(kernelSize: 2)
      conv(ch[0], ch[1])
      ActivationLayer(.relu)
      MaxPool2D(kernelSize: 2)
      conv(ch[1], ch[2])
      ActivationLayer(.relu)
    }
    let net = Sequential(named: [
      ("features", features),
      ("pool", GlobalAvgPool2D()),
      ("classifier", Dense(inputSize: ch[2], outputSize: classes, seed: seeds.next())),
    ])
    return Model(
      network: net, architecture: "digits-cnn", inputShape: [1, 28, 28],
      classNames: classes == 10 ? (0..<10).map(String.init) : [], preprocessing: "scale=1/255",
      targetLayer: "features.6")
  }

  /// `mlp`: a ReLU multilayer perceptron for tabular rows `[N, inputs]` (standardised numerics,
  /// one-hot categoricals).
  ///
  /// Layers are named by index: `0` Dense inputs->h1, `1` ReLU, `2` Dense h1->h2, `3` ReLU, ...,
  /// last Dense -> classes. Target layer: the last Dense (its input is the last hidden activation).
  /// Options: `inputs` (required), `hidden` (default `64,32`), `classes` (2), `seed` (0).
  static func mlp(_ o: inout ModelOptions) throws -> Model {
    let inputs = try o.int("inputs")
    let hidden = try o.intList("hidden", default: [64, 32])
    let classes = try o.int("classes", default: 2)
    var seeds = SeedSequence(try o.seed())
    let net = Sequential([])
    var width = inputs
    for (n, h) in zip([inputs] + hidden, hidden + [classes]) { try o.checkLayer(n, h, from: "inputs, hidden, classes") }
    for h in hidden {
      net.append(Dense(inputSize: width, outputSize: h, seed: seeds.next(), initialization: .kaimingUniform))
      net.append(ActivationLayer(.relu))
      width = h
    }
    net.append(Dense(inputSize: width, outputSize: classes, seed: seeds.next()))
    return Model(
      network: net, architecture: "mlp", inputShape: [inputs], preprocessing: "standardize",
      targetLayer: String(net.entries.count - 1))
  }
}

/// Input conventions shared by the ImageNet builders.
enum ImageNetInput {
  /// Reads `normalize` and `size`; returns the leading normalisation layer (if any), the input
  /// size and the preprocessing description.
  static func options(
    _ o: inout ModelOptions, mean: [Float], std: [Float], note: String, resize: String = "256"
  ) throws -> (Normalize?, Int, String) {
    let normalize = try o.bool("normalize", default: true)
    let size = try o.int("size", default: 224, minimum: 32, maximum: 4096)
    let base = "scale=1/255; resize=\(resize); crop=\(size)"
    if normalize {
      return (Normalize(mean: mean, standardDeviation: std), size, "\(base); inside model: \(note)")
    }
    return (nil, size, "\(base); then \(note) (not inside model)")
  }

  /// torchvision's ImageNet statistics.
  static func torchvision(_ o: inout ModelOptions) throws -> (Normalize?, Int, String) {
    try options(
      &o, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
      note: "normalize mean=0.485,0.456,0.406 std=0.229,0.224,0.225")
  }
}
