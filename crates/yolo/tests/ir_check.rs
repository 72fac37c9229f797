//! onnxide's own checker and shape inference accept every export form (no Python needed).

use onnxide_yolo::{export, ExportOptions, YoloModel};

#[test]
fn onnxide_checker_and_inference_accept_the_exports() {
    let model = YoloModel::from_builtin("yolo11n.yaml", 0).unwrap();
    for (opset, dynamic, batch) in [
        (18, false, 1),
        (18, true, 1),
        (11, false, 2),
        (13, true, 1),
        (22, false, 1),
    ] {
        let opts = ExportOptions {
            imgsz: (320, 320),
            opset: Some(opset),
            dynamic,
            batch,
            ..Default::default()
        };
        let m = export(&model, &opts).unwrap();
        onnxide_ir::check::check(&m)
            .unwrap_or_else(|e| panic!("opset {opset} dynamic {dynamic}: {e}"));
        onnxide_ir::infer::infer(&m)
            .unwrap_or_else(|e| panic!("opset {opset} dynamic {dynamic}: {e}"));
    }
}
