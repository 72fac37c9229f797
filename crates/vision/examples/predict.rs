//! Predict with an Ultralytics ONNX export from Rust, without the CLI:
//!
//! ```sh
//! cargo run --release -p onnxide-vision --example predict -- fixtures/exports/detect/default.onnx fixtures/images/bus.jpg
//! ```

use onnxide_vision::{decode, PredictOptions, Predictor, Task, Thresholds};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, images @ ..] = args.as_slice() else {
        return Err("usage: predict MODEL.onnx IMAGE...".into());
    };
    let model = onnxide_ir::load(std::path::Path::new(model))?;
    let options = PredictOptions {
        thresholds: Thresholds {
            conf: 0.25,
            ..Thresholds::default()
        },
        imgsz: None,
    };
    let predictor = Predictor::new(&model, &Default::default(), options)?;
    let meta = predictor.meta();
    for path in images {
        let image = decode(&std::fs::read(path)?)?;
        let prediction = predictor.predict(&[image], 1)?.remove(0);
        println!("{path}: {}", prediction.summary(meta));
        match prediction.task {
            Task::Classify => {
                for c in prediction.top5() {
                    println!("  {} {:.3}", meta.name(c), prediction.probs[c]);
                }
            }
            Task::Obb => {
                for r in &prediction.obb {
                    println!("  {} {:.3} xywhr {:?}", meta.name(r.class), r.conf, r.xywhr);
                }
            }
            _ => {
                for d in &prediction.boxes {
                    println!("  {} {:.3} xyxy {:?}", meta.name(d.class), d.conf, d.xyxy);
                }
            }
        }
    }
    Ok(())
}
