//! The identity record: who this browser is, and the key that proves it.
//!
//! The record under the key `"me"` in the `identity` store holds the fields of [`Identity`] plus `signing_key`:
//! the private ECDSA P-256 `CryptoKey` itself. IndexedDB stores CryptoKeys by structured clone, so the key is
//! kept non-extractable: no script, not even Twain's, can read its bytes; it can only sign with it. The public key
//! is in `public_key` (base64url of the raw 65-byte point) and the identity id is derived from it
//! ([`twain_protocol::verify::peer_id_from_public_key`]).

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CryptoKey, IdbTransactionMode};

use twain_protocol::ids::base64url;
use twain_protocol::verify::{decode_public_key, peer_id_from_public_key};

use super::{
    finish, from_js, js, js_string, now, object_store, request, to_js, Identity, Result, Storage,
    StorageError, IDENTITY, ME,
};
use crate::names::friendly_name;
use crate::random::random_u32;

/// Property of the identity record holding the private `CryptoKey`.
const SIGNING_KEY: &str = "signing_key";

/// The identity in a stored record, if the record is complete and consistent: a signing key, a valid public key
/// and the id that key gives.
fn complete(value: &JsValue) -> Option<Identity> {
    if !value.is_object() {
        return None;
    }
    Reflect::get(value, &SIGNING_KEY.into())
        .ok()?
        .dyn_into::<CryptoKey>()
        .ok()?;
    let identity: Identity = from_js(value.clone()).ok()?;
    let raw = decode_public_key(&identity.public_key).ok()?;
    (peer_id_from_public_key(&raw) == identity.peer_id).then_some(identity)
}

impl Storage {
    /// Returns this browser's identity, creating it on the very first call: a new key pair (WebCrypto, private key
    /// non-extractable), the id derived from the public key, and a friendly name. Later calls return the same.
    pub async fn load_or_create_identity(&self) -> Result<Identity> {
        if let Some(identity) = self.stored_identity().await? {
            return Ok(identity);
        }
        // Made outside the transaction: awaiting WebCrypto would let IndexedDB commit it early.
        let keys = crate::identity::generate_keys()
            .await
            .map_err(StorageError::Failed)?;
        let tx = self.tx(&[IDENTITY], IdbTransactionMode::Readwrite)?;
        let store = object_store(&tx, IDENTITY)?;
        let existing = request(&js(store.get(&ME.into()))?, Some(&tx)).await?;
        let identity = match complete(&existing) {
            // Another tab made it meanwhile: theirs wins, so both tabs are the same person.
            Some(identity) => identity,
            None => {
                let name = js_string(&existing, "name")
                    .filter(|n| twain_protocol::validate_name(n).is_ok())
                    .unwrap_or_else(|| friendly_name(random_u32()));
                let identity = Identity {
                    peer_id: peer_id_from_public_key(&keys.public_raw),
                    name,
                    created_ms: now(),
                    public_key: base64url(&keys.public_raw),
                };
                let record = to_js(&identity)?;
                Reflect::set(&record, &SIGNING_KEY.into(), &keys.private)
                    .map_err(|e| StorageError::from_js(&e))?;
                js(store.put_with_key(&record, &ME.into()))?;
                identity
            }
        };
        finish(&tx).await?;
        Ok(identity)
    }

    async fn stored_identity(&self) -> Result<Option<Identity>> {
        let tx = self.tx(&[IDENTITY], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, IDENTITY)?;
        let existing = request(&js(store.get(&ME.into()))?, Some(&tx)).await?;
        Ok(complete(&existing))
    }

    /// The private key of this browser's identity, to sign proofs with (it cannot be exported).
    pub async fn signing_key(&self) -> Result<CryptoKey> {
        let tx = self.tx(&[IDENTITY], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, IDENTITY)?;
        let existing = request(&js(store.get(&ME.into()))?, Some(&tx)).await?;
        if existing.is_undefined() {
            return Err(StorageError::Corrupt(
                "this browser has no identity yet".into(),
            ));
        }
        Reflect::get(&existing, &SIGNING_KEY.into())
            .ok()
            .and_then(|k| k.dyn_into::<CryptoKey>().ok())
            .ok_or_else(|| StorageError::Corrupt("the identity has no signing key".into()))
    }

    /// Changes the display name (trimmed, checked with [`twain_protocol::validate_name`]) and returns the identity.
    /// The key pair and the id stay.
    pub async fn rename(&self, name: &str) -> Result<Identity> {
        let name = name.trim();
        twain_protocol::validate_name(name)
            .map_err(|e| StorageError::InvalidName(e.to_string()))?;
        self.load_or_create_identity().await?;
        let tx = self.tx(&[IDENTITY], IdbTransactionMode::Readwrite)?;
        let store = object_store(&tx, IDENTITY)?;
        let record = request(&js(store.get(&ME.into()))?, Some(&tx)).await?;
        let Some(mut identity) = complete(&record) else {
            return Err(StorageError::Corrupt(
                "the identity was removed meanwhile".into(),
            ));
        };
        // Change the stored object in place: it holds the CryptoKey, which serde cannot carry.
        Reflect::set(&record, &"name".into(), &JsValue::from_str(name))
            .map_err(|e| StorageError::from_js(&e))?;
        js(store.put_with_key(&record, &ME.into()))?;
        finish(&tx).await?;
        identity.name = name.to_string();
        Ok(identity)
    }
}
