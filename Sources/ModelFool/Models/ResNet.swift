/// ResNet-18/50 (He et al. 2016) in torchvision's layout (v1.5: the stride of a bottleneck sits on
/// its 3x3 conv).
///
/// State-dict names: `conv1.weight` `[64, 3, 7, 7]`, `bn1.{weight,bias,running_mean,running_var,
/// num_batches_tracked}`, `layer{1-4}.{i}.conv1/bn1/conv2/bn2[/conv3/bn3]`, projection shortcuts
/// `layer{k}.0.downsample.0.weight` (1x1 conv) and `layer{k}.0.downsample.1.*` (BN), `fc.weight`
/// `[classes, 512 * expansion]`, `fc.bias`. Convs have no bias. Each block is a ``Residual`` with
/// body `conv1, bn1, relu1, conv2, bn2[, relu2, conv3, bn3]`, shortcut `downsample` and `relu` after
/// the sum. Parameters: ResNet-18 11,689,512; ResNet-50 25,557,032. Target layer `avgpool` (its input
/// is layer4's output, 7x7 at 224).
enum ResNet {
  /// Options: `classes` (1000), `seed`, `normalize`, `size`.
  static func build(depth: Int, _ o: inout ModelOptions) throws -> Model {
    let classes = try o.int("classes", default: 1000)
    var seeds = SeedSequence(try o.seed())
    let (normalize, size, prep) = try ImageNetInput.torchvision(&o)
    let bottleneck = depth == 50
    let counts = bottleneck ? [3, 4, 6, 3] : [2, 2, 2, 2]
    let expansion = bottleneck ? 4 : 1
    func conv(_ i: Int, _ out: Int, _ k: Int, stride: Int = 1) -> Conv2D {
      Conv2D(inputChannels: i, outputChannels: out, kernelSize: k, stride: stride, padding: .symmetric(height: k / 2, width: k / 2),
             bias: false, seed: seeds.next(), initialization: .kaimingNormalFanOut)
    }
    var entries: [(String, any Layer)] = normalize.map { [("normalize", $0)] } ?? []
    entries += [
      ("conv1", conv(3, 64, 7, stride: 2)), ("bn1", BatchNorm(channels: 64)), ("relu", ActivationLayer(.relu)),
      ("maxpool", MaxPool2D(kernelSize: 3, stride: 2, padding: 1)),
    ]
    var inplanes = 64
    for (stage, planes) in [64, 128, 256, 512].enumerated() {
      let stageLayer = Sequential([])
      for i in 0..<counts[stage] {
        let stride = i == 0 && stage > 0 ? 2 : 1
        let out = planes * expansion
        var body: [(String, any Layer)]
        if bottleneck {
          body = [
            ("conv1", conv(inplanes, planes, 1)), ("bn1", BatchNorm(channels: planes)), ("relu1", ActivationLayer(.relu)),
            ("conv2", conv(planes, planes, 3, stride: stride)), ("bn2", BatchNorm(channels: planes)),
            ("relu2", ActivationLayer(.relu)),
            ("conv3", conv(planes, out, 1)), ("bn3", BatchNorm(channels: out)),
          ]
        } else {
          body = [
            ("conv1", conv(inplanes, planes, 3, stride: stride)), ("bn1", BatchNorm(channels: planes)),
            ("relu1", ActivationLayer(.relu)),
            ("conv2", conv(planes, planes, 3)), ("bn2", BatchNorm(channels: planes)),
          ]
        }
        var shortcut: (String, any Layer)? = nil
        if stride != 1 || inplanes != out {
          shortcut = ("downsample", Sequential([conv(inplanes, out, 1, stride: stride), BatchNorm(channels: out)]))
        }
        stageLayer.append(Residual(body: body, shortcut: shortcut, post: ("relu", ActivationLayer(.relu))))
        inplanes = out
      }
      entries.append(("layer\(stage + 1)", stageLayer))
    }
    entries += [
      ("avgpool", GlobalAvgPool2D()), ("fc", Dense(inputSize: inplanes, outputSize: classes, seed: seeds.next())),
    ]
    return Model(
      network: Sequential(named: entries), architecture: "resnet\(depth)", inputShape: [3, size, size],
      preprocessing: prep, targetLayer: "avgpool")
  }
}
