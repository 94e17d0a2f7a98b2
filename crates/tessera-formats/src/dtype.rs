//! Element types shared by the NPY and GeoTIFF codecs.

/// Numeric element types of arrays and rasters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// Signed 8-bit (`|i1`).
    I8,
    /// Unsigned 8-bit (`|u1`).
    U8,
    /// Signed 16-bit (`<i2`).
    I16,
    /// Unsigned 16-bit (`<u2`).
    U16,
    /// Signed 32-bit (`<i4`).
    I32,
    /// Unsigned 32-bit (`<u4`).
    U32,
    /// Signed 64-bit (`<i8`).
    I64,
    /// IEEE single (`<f4`).
    F32,
    /// IEEE double (`<f8`).
    F64,
}

impl DType {
    /// Bytes per element.
    pub fn size(&self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// True for floating-point types.
    pub fn is_float(&self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// True for signed integer types.
    pub fn is_signed_int(&self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }

    /// The NumPy `descr` string, as NumPy writes it on a little-endian machine.
    pub fn descr(&self) -> &'static str {
        match self {
            DType::I8 => "|i1",
            DType::U8 => "|u1",
            DType::I16 => "<i2",
            DType::U16 => "<u2",
            DType::I32 => "<i4",
            DType::U32 => "<u4",
            DType::I64 => "<i8",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
        }
    }

    /// The dtype of a NumPy `descr` (little-endian or byte-order-free only).
    pub fn from_descr(d: &str) -> Result<DType, String> {
        let code = match d.as_bytes().first() {
            Some(b'<' | b'|' | b'=') => &d[1..],
            Some(b'>') => return Err(format!("big-endian dtype '{d}' is not supported")),
            _ => d,
        };
        Ok(match code {
            "i1" | "b" => DType::I8,
            "u1" | "B" => DType::U8,
            "i2" => DType::I16,
            "u2" => DType::U16,
            "i4" => DType::I32,
            "u4" => DType::U32,
            "i8" => DType::I64,
            "f4" => DType::F32,
            "f8" => DType::F64,
            _ => return Err(format!("dtype '{d}' is not supported")),
        })
    }

    /// The GDAL name (`Byte`, `Int8`, `Float32`, ...).
    pub fn gdal_name(&self) -> &'static str {
        match self {
            DType::I8 => "Int8",
            DType::U8 => "Byte",
            DType::I16 => "Int16",
            DType::U16 => "UInt16",
            DType::I32 => "Int32",
            DType::U32 => "UInt32",
            DType::I64 => "Int64",
            DType::F32 => "Float32",
            DType::F64 => "Float64",
        }
    }

    /// TIFF SampleFormat (1 unsigned, 2 signed, 3 IEEE float).
    pub fn tiff_sample_format(&self) -> u16 {
        if self.is_float() {
            3
        } else if self.is_signed_int() {
            2
        } else {
            1
        }
    }

    /// From TIFF BitsPerSample and SampleFormat.
    pub fn from_tiff(bits: u16, sample_format: u16) -> Option<DType> {
        Some(match (bits, sample_format) {
            (8, 1) => DType::U8,
            (8, 2) => DType::I8,
            (16, 1) => DType::U16,
            (16, 2) => DType::I16,
            (32, 1) => DType::U32,
            (32, 2) => DType::I32,
            (64, 2) => DType::I64,
            (32, 3) => DType::F32,
            (64, 3) => DType::F64,
            _ => return None,
        })
    }
}

/// Rust element types that map to a [`DType`].
pub trait Element: bytemuck::Pod + Copy + Default + Send + Sync + 'static {
    /// The dtype of this Rust type.
    const DTYPE: DType;
}

macro_rules! element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
        }
    };
}
element!(i8, I8);
element!(u8, U8);
element!(i16, I16);
element!(u16, U16);
element!(i32, I32);
element!(u32, U32);
element!(i64, I64);
element!(f32, F32);
element!(f64, F64);
