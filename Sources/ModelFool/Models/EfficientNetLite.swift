/// EfficientNet-Lite0 (Tan and Le 2019; the "Lite" edge variant: ReLU6, no squeeze-excite, fixed
/// stem and head) in EfficientNet-PyTorch's naming, so the official weights
/// (`efficientnet-lite0-57934424.pth`, 296 tensors) load one-to-one.
///
/// Layout: `_conv_stem` 3x3/2 3->32, `_bn0`, ReLU6; `_blocks.0 ... _blocks.15` (MBConv); `_conv_head`
/// 1x1 320->1280, `_bn1`, ReLU6, global mean, dropout 0.2, `_fc` 1280->classes. Stages (expand,
/// kernel, stride, channels, repeats): (1,3,1,16,1) (6,3,2,24,2) (6,5,2,40,2) (6,3,2,80,3)
/// (6,5,1,112,3) (6,5,2,192,4) (6,3,1,320,1). A block `_blocks.N` holds `_expand_conv` (1x1, absent
/// when expand = 1), `_bn0`, `_depthwise_conv` (k x k, groups = channels), `_bn1`, `_project_conv`
/// (1x1), `_bn2`; it is a ``Residual`` with identity shortcut when stride is 1 and input and output
/// channels agree, otherwise a ``Sequential``. All convs: no bias, TensorFlow "SAME" padding
/// (``PaddingMode/same``). BatchNorm eps 1e-3, momentum 0.01 (TF 0.99). Drop-connect (training
/// only) is not implemented. Input: RGB in [0, 1]; the model's `normalize` layer computes
/// `(255 x - 127) / 128`. Parameters: 4,652,008. Target layer `_conv_head` (its input is the last
/// block's output, 7x7x320 at 224).
enum EfficientNetLite {
  static let stages: [(expand: Int, kernel: Int, stride: Int, channels: Int, repeats: Int)] = [
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
  ]

  /// Options: `classes` (1000), `seed`, `normalize`, `size`.
  static func buildLite0(_ o: inout ModelOptions) throws -> Model {
    let classes = try o.int("classes", default: 1000)
    var seeds = SeedSequence(try o.seed())
    let (normalize, size, prep) = try ImageNetInput.options(
      &o, mean: [127 / 255, 127 / 255, 127 / 255], std: [128 / 255, 128 / 255, 128 / 255],
      note: "(255x-127)/128", resize: "256(bicubic)")
    func bn(_ c: Int) -> BatchNorm { BatchNorm(channels: c, epsilon: 1e-3, momentum: 0.01) }
    func conv(_ i: Int, _ out: Int, _ k: Int, stride: Int = 1, groups: Int = 1) -> Conv2D {
      Conv2D(inputChannels: i, outputChannels: out, kernelSize: k, stride: stride, padding: .same, groups: groups,
             bias: false, seed: seeds.next(), initialization: .kaimingNormalFanOut)
    }
    let blocks = Sequential([])
    var channels = 32
    for s in stages {
      for r in 0..<s.repeats {
        let stride = r == 0 ? s.stride : 1
        let mid = channels * s.expand
        var body: [(String, any Layer)] = []
        if s.expand != 1 {
          body += [("_expand_conv", conv(channels, mid, 1)), ("_bn0", bn(mid)), ("_act0", ActivationLayer(.relu6))]
        }
        body += [
          ("_depthwise_conv", conv(mid, mid, s.kernel, stride: stride, groups: mid)), ("_bn1", bn(mid)),
          ("_act1", ActivationLayer(.relu6)),
          ("_project_conv", conv(mid, s.channels, 1)), ("_bn2", bn(s.channels)),
        ]
        if stride == 1 && channels == s.channels {
          blocks.append(Residual(body: body))
        } else {
          blocks.append(Sequential(named: body))
        }
        channels = s.channels
      }
    }
    var entries: [(String, any Layer)] = normalize.map { [("normalize", $0)] } ?? []
    entries += [
      ("_conv_stem", conv(3, 32, 3, stride: 2)), ("_bn0", bn(32)), ("_stem_act", ActivationLayer(.relu6)),
      ("_blocks", blocks),
      ("_conv_head", conv(channels, 1280, 1)), ("_bn1", bn(1280)), ("_head_act", ActivationLayer(.relu6)),
      ("_avg_pooling", GlobalAvgPool2D()), ("_dropout", Dropout(rate: 0.2, seed: seeds.next())),
      ("_fc", Dense(inputSize: 1280, outputSize: classes, seed: seeds.next())),
    ]
    return Model(
      network: Sequential(named: entries), architecture: "efficientnet-lite0", inputShape: [3, size, size],
      preprocessing: prep, targetLayer: "_conv_head")
  }
}
