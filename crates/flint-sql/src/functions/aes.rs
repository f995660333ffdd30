//! Spark's `aes_encrypt`, `aes_decrypt` and `try_aes_decrypt` (`ExpressionImplUtils`):
//! AES with a 16, 24 or 32-byte key in GCM (no padding; a 12-byte IV and a 16-byte tag,
//! optional AAD), CBC (PKCS#5 padding, a 16-byte IV) or ECB (PKCS#5 padding, no IV).
//! The ciphertext is the IV followed by the encrypted bytes, so `aes_decrypt` reads the IV
//! from its input; an IV not given is random.

use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore};
use aes_gcm::{AesGcm, Nonce};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;

use super::row::{RowContext, RowFunction, arity, bytes, text};

const GCM_IV_LENGTH: usize = 12;
const CBC_IV_LENGTH: usize = 16;

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("aes_encrypt", encrypt_types, binary, encrypt).udf(),
        RowFunction::new("aes_decrypt", decrypt_types, binary, |args, _| {
            decrypt("aes_decrypt", args)
        })
        .udf(),
        RowFunction::new("try_aes_decrypt", decrypt_types, binary, try_decrypt).udf(),
    ]
}

fn binary(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Binary)
}

/// The argument types of a call with `types`: those at `binary` positions as bytes, the
/// rest as strings.
fn argument_types(
    function: &str,
    types: &[DataType],
    max: usize,
    binary: &[usize],
) -> Result<Vec<DataType>> {
    arity(function, types, 2, max)?;
    Ok((0..types.len())
        .map(|i| {
            if binary.contains(&i) {
                DataType::Binary
            } else {
                DataType::Utf8
            }
        })
        .collect())
}

/// `aes_encrypt(input, key[, mode[, padding[, iv[, aad]]]])`: input, key and IV as
/// bytes, the rest as strings.
fn encrypt_types(types: &[DataType]) -> Result<Vec<DataType>> {
    argument_types("aes_encrypt", types, 6, &[0, 1, 4])
}

/// `aes_decrypt(input, key[, mode[, padding[, aad]]])`.
fn decrypt_types(types: &[DataType]) -> Result<Vec<DataType>> {
    argument_types("aes_decrypt", types, 5, &[0, 1])
}

/// The cipher a call asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Gcm,
    Cbc,
    Ecb,
}

/// The mode and padding arguments (GCM by default, padding `DEFAULT`), or Spark's
/// `UNSUPPORTED_FEATURE.AES_MODE` for a combination it does not support.
fn mode(function: &str, args: &[ScalarValue]) -> Result<Mode> {
    let mode = args.get(2).and_then(text).unwrap_or("GCM").to_uppercase();
    let padding = args
        .get(3)
        .and_then(text)
        .unwrap_or("DEFAULT")
        .to_uppercase();
    match (mode.as_str(), padding.as_str()) {
        ("GCM", "DEFAULT" | "NONE") => Ok(Mode::Gcm),
        ("CBC", "DEFAULT" | "PKCS") => Ok(Mode::Cbc),
        ("ECB", "DEFAULT" | "PKCS") => Ok(Mode::Ecb),
        _ => Err(DataFusionError::Execution(format!(
            "[UNSUPPORTED_FEATURE.AES_MODE] The feature is not supported: AES-{mode} with the \
             padding {padding} by the `{function}` function. SQLSTATE: 0A000"
        ))),
    }
}

/// The key, which must be 16, 24 or 32 bytes.
fn key<'a>(function: &str, args: &'a [ScalarValue]) -> Result<&'a [u8]> {
    let key = args.get(1).and_then(bytes).unwrap_or_default();
    if matches!(key.len(), 16 | 24 | 32) {
        Ok(key)
    } else {
        Err(DataFusionError::Execution(format!(
            "[INVALID_PARAMETER_VALUE.AES_KEY_LENGTH] The value of parameter(s) `key` in \
             `{function}` is invalid: expects a binary value with 16, 24 or 32 bytes, but got \
             {} bytes. SQLSTATE: 22023",
            key.len()
        )))
    }
}

fn crypto_error(function: &str, detail: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[INVALID_PARAMETER_VALUE.AES_CRYPTO_ERROR] The value of parameter(s) `expr`, `key` in \
         `{function}` is invalid: detail message: {detail} SQLSTATE: 22023"
    ))
}

/// Runs `$body` with `$cipher` bound to the AES type of `$key`'s length.
macro_rules! with_aes {
    ($key:expr, |$cipher:ident| $body:expr) => {
        match $key.len() {
            16 => {
                type $cipher = aes::Aes128;
                $body
            }
            24 => {
                type $cipher = aes::Aes192;
                $body
            }
            _ => {
                type $cipher = aes::Aes256;
                $body
            }
        }
    };
}

fn encrypt(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    const NAME: &str = "aes_encrypt";
    let mode = mode(NAME, args)?;
    let key = key(NAME, args)?;
    let input = args.first().and_then(bytes).unwrap_or_default();
    let iv = args.get(4).and_then(bytes).unwrap_or_default();
    let aad = args.get(5).and_then(text).unwrap_or_default();
    let refuse = |what: &str| {
        DataFusionError::Execution(format!(
            "[UNSUPPORTED_FEATURE.AES_MODE_{what}] The feature is not supported: AES-{mode:?} \
             by the `{NAME}` function does not support {}. SQLSTATE: 0A000",
            if what == "IV" {
                "initialization vectors (IVs)"
            } else {
                "additional authenticate data (AAD)"
            }
        ))
    };
    let iv_length = |expected: usize| {
        if iv.is_empty() || iv.len() == expected {
            Ok(())
        } else {
            Err(DataFusionError::Execution(format!(
                "[INVALID_PARAMETER_VALUE.AES_IV_LENGTH] The value of parameter(s) `iv` in \
                 `{NAME}` is invalid: supports 16-byte CBC IVs and 12-byte GCM IVs, but got {} \
                 bytes for {mode:?}. SQLSTATE: 22023",
                iv.len()
            )))
        }
    };
    let encrypted = match mode {
        Mode::Gcm => {
            iv_length(GCM_IV_LENGTH)?;
            with_aes!(key, |Cipher| {
                let cipher = AesGcm::<Cipher, aes_gcm::aead::consts::U12>::new_from_slice(key)
                    .map_err(|e| crypto_error(NAME, e))?;
                let nonce = if iv.is_empty() {
                    AesGcm::<Cipher, aes_gcm::aead::consts::U12>::generate_nonce(&mut OsRng)
                } else {
                    *Nonce::from_slice(iv)
                };
                let sealed = cipher
                    .encrypt(
                        &nonce,
                        Payload {
                            msg: input,
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|e| crypto_error(NAME, e))?;
                [nonce.as_slice(), &sealed].concat()
            })
        }
        Mode::Cbc => {
            iv_length(CBC_IV_LENGTH)?;
            if !aad.is_empty() {
                return Err(refuse("AAD"));
            }
            let mut chosen = [0u8; CBC_IV_LENGTH];
            if iv.is_empty() {
                OsRng.fill_bytes(&mut chosen);
            } else {
                chosen.copy_from_slice(iv);
            }
            with_aes!(key, |Cipher| {
                let cipher = cbc::Encryptor::<Cipher>::new_from_slices(key, &chosen)
                    .map_err(|e| crypto_error(NAME, e))?;
                let sealed = cipher.encrypt_padded_vec_mut::<Pkcs7>(input);
                [chosen.as_slice(), &sealed].concat()
            })
        }
        Mode::Ecb => {
            if !iv.is_empty() {
                return Err(refuse("IV"));
            }
            if !aad.is_empty() {
                return Err(refuse("AAD"));
            }
            with_aes!(key, |Cipher| {
                let cipher = ecb::Encryptor::<Cipher>::new_from_slice(key)
                    .map_err(|e| crypto_error(NAME, e))?;
                cipher.encrypt_padded_vec_mut::<Pkcs7>(input)
            })
        }
    };
    Ok(ScalarValue::Binary(Some(encrypted)))
}

fn decrypt(function: &str, args: &[ScalarValue]) -> Result<ScalarValue> {
    let mode = mode(function, args)?;
    let key = key(function, args)?;
    let input = args.first().and_then(bytes).unwrap_or_default();
    let aad = args.get(4).and_then(text).unwrap_or_default();
    let short = || crypto_error(function, "Input is too short to hold the IV.");
    let plain = match mode {
        Mode::Gcm => {
            if input.len() < GCM_IV_LENGTH {
                return Err(short());
            }
            let (iv, sealed) = input.split_at(GCM_IV_LENGTH);
            with_aes!(key, |Cipher| {
                let cipher = AesGcm::<Cipher, aes_gcm::aead::consts::U12>::new_from_slice(key)
                    .map_err(|e| crypto_error(function, e))?;
                cipher
                    .decrypt(
                        Nonce::from_slice(iv),
                        Payload {
                            msg: sealed,
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| crypto_error(function, "Tag mismatch!"))?
            })
        }
        Mode::Cbc => {
            if input.len() < CBC_IV_LENGTH {
                return Err(short());
            }
            let (iv, sealed) = input.split_at(CBC_IV_LENGTH);
            with_aes!(key, |Cipher| {
                let cipher = cbc::Decryptor::<Cipher>::new_from_slices(key, iv)
                    .map_err(|e| crypto_error(function, e))?;
                cipher
                    .decrypt_padded_vec_mut::<Pkcs7>(sealed)
                    .map_err(|_| crypto_error(function, "Given final block not properly padded."))?
            })
        }
        Mode::Ecb => with_aes!(key, |Cipher| {
            let cipher = ecb::Decryptor::<Cipher>::new_from_slice(key)
                .map_err(|e| crypto_error(function, e))?;
            cipher
                .decrypt_padded_vec_mut::<Pkcs7>(input)
                .map_err(|_| crypto_error(function, "Given final block not properly padded."))?
        }),
    };
    Ok(ScalarValue::Binary(Some(plain)))
}

/// `aes_decrypt` with NULL where decrypting fails (a wrong key, mode, tag or padding).
fn try_decrypt(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(decrypt("try_aes_decrypt", args).unwrap_or(ScalarValue::Binary(None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> datafusion::common::config::ConfigOptions {
        datafusion::common::config::ConfigOptions::default()
    }

    fn strings(values: &[&str]) -> Vec<ScalarValue> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| match i {
                0 | 1 | 4 => ScalarValue::Binary(Some(v.as_bytes().to_vec())),
                _ => ScalarValue::Utf8(Some(v.to_string())),
            })
            .collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn gcm_with_a_given_iv_and_aad_matches_spark() {
        let config = context();
        let row = RowContext {
            return_type: &DataType::Binary,
            config: &config,
        };
        let mut args = strings(&[
            "Spark",
            "abcdefghijklmnop12345678ABCDEFGH",
            "GCM",
            "DEFAULT",
        ]);
        args.push(ScalarValue::Binary(Some(vec![0; 12])));
        args.push(ScalarValue::Utf8(Some(
            "This is an AAD mixed into the input".into(),
        )));
        let ScalarValue::Binary(Some(sealed)) = encrypt(&args, &row).unwrap() else {
            panic!("not binary");
        };
        // Spark's doctest: base64 AAAAAAAAAAAAAAAAQiYi+sTLm7KD9UcZ2nlRdYDe/PX4.
        assert_eq!(
            hex(&sealed),
            "000000000000000000000000422622FAC4CB9BB283F54719DA79517580DEFCF5F8"
        );
    }

    #[test]
    fn decrypts_what_spark_encrypted_and_round_trips_every_mode() {
        let config = context();
        let row = RowContext {
            return_type: &DataType::Binary,
            config: &config,
        };
        let unhex = |s: &str| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>()
        };
        let sealed = unhex("83F16B2AA704794132802D248E6BFD4E380078182D1544813898AC97E709B28A94");
        let args = vec![
            ScalarValue::Binary(Some(sealed)),
            ScalarValue::Binary(Some(b"0000111122223333".to_vec())),
        ];
        assert_eq!(
            decrypt("aes_decrypt", &args).unwrap(),
            ScalarValue::Binary(Some(b"Spark".to_vec()))
        );
        for mode in ["GCM", "CBC", "ECB"] {
            for key in ["1234567890abcdef", "abcdefghijklmnop12345678"] {
                let args = strings(&["Spark SQL", key, mode, "DEFAULT"]);
                let sealed = encrypt(&args, &row).unwrap();
                let back = vec![sealed, args[1].clone(), args[2].clone(), args[3].clone()];
                assert_eq!(
                    decrypt("aes_decrypt", &back).unwrap(),
                    ScalarValue::Binary(Some(b"Spark SQL".to_vec()))
                );
            }
        }
        let wrong = strings(&["not a ciphertext at all!", "1234567890abcdef", "CBC"]);
        assert!(decrypt("aes_decrypt", &wrong).is_err());
        assert_eq!(
            try_decrypt(&wrong, &row).unwrap(),
            ScalarValue::Binary(None)
        );
        let short_key = strings(&["x", "short"]);
        assert!(
            encrypt(&short_key, &row)
                .unwrap_err()
                .to_string()
                .contains("AES_KEY_LENGTH")
        );
    }
}
