//! NumPy is the oracle: it reads our `.npy` files with the values we wrote and re-saves
//! them byte for byte identically; we read what NumPy writes (all header versions).

use std::path::Path;

use tessera_formats::npy::{self, DType, NpyFile, write_npy_file};
use tessera_testkit::{run_python, scratch};

fn pattern_i8(n: usize) -> Vec<i8> {
    (0..n).map(|i| ((i * 7919) % 255) as i32 as i8).collect()
}

fn pattern_f32(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.37).sin() * 1e3).collect()
}

#[test]
fn numpy_reads_ours_byte_identically() {
    let dir = scratch("npy-ours");
    let cases: Vec<(String, Vec<usize>)> = vec![
        ("emb.npy".into(), vec![37, 29, 128]),
        ("scales.npy".into(), vec![37, 29]),
        ("vec.npy".into(), vec![5]),
        ("scalar.npy".into(), vec![]),
        ("wide.npy".into(), vec![123456789, 0, 3]),
        ("u16.npy".into(), vec![3, 4]),
        ("f64.npy".into(), vec![2, 3, 4]),
    ];
    for (name, shape) in &cases {
        let n: usize = shape.iter().product();
        let path = dir.join(name);
        match name.as_str() {
            "emb.npy" | "wide.npy" => write_npy_file(&path, shape, &pattern_i8(n)).unwrap(),
            "u16.npy" => write_npy_file(&path, shape, &(0..n as u16).collect::<Vec<_>>()).unwrap(),
            "f64.npy" => write_npy_file(
                &path,
                shape,
                &(0..n).map(|i| i as f64 / 3.0).collect::<Vec<_>>(),
            )
            .unwrap(),
            _ => write_npy_file(&path, shape, &pattern_f32(n)).unwrap(),
        }
    }
    let script = r#"
import sys, io, json, numpy as np
out = {}
for path in sys.argv[1:]:
    a = np.load(path)
    buf = io.BytesIO(); np.save(buf, a)
    same = buf.getvalue() == open(path, 'rb').read()
    flat = a.ravel()
    out[path.rsplit('/', 1)[1]] = [a.dtype.str, list(a.shape), same,
        float(flat.astype(np.float64).sum()) if flat.size else 0.0,
        [float(v) for v in flat[:3]]]
print(json.dumps(out))
"#;
    let paths: Vec<String> = cases
        .iter()
        .map(|(n, _)| dir.join(n).display().to_string())
        .collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let got: serde_json::Value = serde_json::from_str(&run_python(script, &args)).unwrap();
    for (name, shape) in &cases {
        let g = &got[name];
        assert_eq!(
            g[2], true,
            "{name}: numpy.save of the loaded array differs from our bytes"
        );
        assert_eq!(
            g[1].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect::<Vec<_>>(),
            *shape,
            "{name}"
        );
        let n: usize = shape.iter().product();
        let expect_sum: f64 = match name.as_str() {
            "emb.npy" | "wide.npy" => pattern_i8(n).iter().map(|&v| f64::from(v)).sum(),
            "u16.npy" => (0..n).map(|i| i as f64).sum(),
            "f64.npy" => (0..n).map(|i| i as f64 / 3.0).sum(),
            _ => pattern_f32(n).iter().map(|&v| f64::from(v)).sum(),
        };
        let s = g[3].as_f64().unwrap();
        assert!(
            (s - expect_sum).abs() <= 1e-6 * expect_sum.abs().max(1.0),
            "{name}: sum {s} vs {expect_sum}"
        );
    }
    assert_eq!(got["emb.npy"][0], "|i1");
    assert_eq!(got["scales.npy"][0], "<f4");
    // Published tiles have a 128-byte header.
    let f = NpyFile::open(&dir.join("emb.npy")).unwrap();
    assert_eq!(f.header().data_offset, 128);
}

#[test]
fn we_read_numpys_files() {
    let dir = scratch("npy-theirs");
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
np.save(f'{d}/emb.npy', (np.arange(11*13*128) % 251 - 125).astype(np.int8).reshape(11, 13, 128))
np.save(f'{d}/scales.npy', (np.arange(11*13, dtype=np.float32) * 0.25).reshape(11, 13))
np.save(f'{d}/fortran.npy', np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
for v in [(1, 0), (2, 0), (3, 0)]:
    with open(f'{d}/v{v[0]}.npy', 'wb') as f:
        np.lib.format.write_array(f, np.arange(10, dtype='<i4').reshape(2, 5), version=v)
np.save(f'{d}/be.npy', np.arange(3, dtype='>f4'))
with open(f'{d}/trunc.npy', 'wb') as f:
    np.save(f, np.zeros((100, 100), np.float32))
with open(f'{d}/trunc.npy', 'r+b') as f:
    f.truncate(1000)
"#;
    run_python(script, &[&dir.display().to_string()]);
    let emb = NpyFile::open(&dir.join("emb.npy")).unwrap();
    emb.expect::<i8>(3, Some(128)).unwrap();
    let v = emb.as_slice::<i8>().unwrap();
    assert_eq!(v.len(), 11 * 13 * 128);
    for (i, &x) in v.iter().enumerate() {
        assert_eq!(i32::from(x), (i % 251) as i32 - 125);
    }
    let off = emb.header().offset_of(&[10, 12]).unwrap() as usize;
    let raw = std::fs::read(dir.join("emb.npy")).unwrap();
    assert_eq!(raw[off] as i8, v[(10 * 13 + 12) * 128]);
    let sc = NpyFile::open(&dir.join("scales.npy")).unwrap();
    assert_eq!(sc.as_slice::<f32>().unwrap()[5], 1.25);
    assert!(sc.expect::<f32>(3, None).is_err());
    for v in ["v1", "v2", "v3"] {
        let f = NpyFile::open(&dir.join(format!("{v}.npy"))).unwrap();
        assert_eq!(f.header().version.0, v[1..].parse::<u8>().unwrap());
        assert_eq!(f.to_vec::<i32>().unwrap(), (0..10).collect::<Vec<i32>>());
    }
    assert!(matches!(
        NpyFile::open(&dir.join("fortran.npy")),
        Err(npy::NpyError::Unsupported { .. })
    ));
    assert!(matches!(
        NpyFile::open(&dir.join("be.npy")),
        Err(npy::NpyError::Unsupported { .. })
    ));
    let e = NpyFile::open(&dir.join("trunc.npy")).unwrap_err();
    assert!(
        matches!(
            e,
            npy::NpyError::Truncated {
                actual: 1000,
                expected: 40128,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("truncated"));
    assert!(NpyFile::open(Path::new("/nonexistent/x.npy")).is_err());
    let _ = DType::F32;
}
