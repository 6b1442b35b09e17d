/*
 * fw_p11_table.c - the function list of libkeyhold-fw-pkcs11.so and the
 * entry points the Keyhold device does not offer. Every unsupported
 * function answers CKR_FUNCTION_NOT_SUPPORTED (C_SeedRandom, the legacy
 * parallel functions: the codes v2.40 names for them) and touches no
 * argument. It owns the one exported symbol, C_GetFunctionList; it must
 * never hold module state.
 */
#include "pkcs11/fw_p11.h"

ck_rv_t C_InitToken(ck_slot_id_t slot_id, unsigned char *pin,
                    unsigned long pin_len, unsigned char *label)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_InitPIN(ck_session_handle_t session, unsigned char *pin,
                  unsigned long pin_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SetPIN(ck_session_handle_t session, unsigned char *old_pin,
                 unsigned long old_len, unsigned char *new_pin,
                 unsigned long new_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_GetOperationState(ck_session_handle_t session,
                            unsigned char *operation_state,
                            unsigned long *operation_state_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SetOperationState(ck_session_handle_t session,
                            unsigned char *operation_state,
                            unsigned long operation_state_len,
                            ck_object_handle_t encryption_key,
                            ck_object_handle_t authentiation_key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_CopyObject(ck_session_handle_t session, ck_object_handle_t object,
                     struct ck_attribute *templ, unsigned long count,
                     ck_object_handle_t *new_object)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_GetObjectSize(ck_session_handle_t session, ck_object_handle_t object,
                        unsigned long *size)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SetAttributeValue(ck_session_handle_t session,
                            ck_object_handle_t object,
                            struct ck_attribute *templ, unsigned long count)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_EncryptUpdate(ck_session_handle_t session, unsigned char *part,
                        unsigned long part_len, unsigned char *encrypted_part,
                        unsigned long *encrypted_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_EncryptFinal(ck_session_handle_t session,
                       unsigned char *last_encrypted_part,
                       unsigned long *last_encrypted_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DecryptUpdate(ck_session_handle_t session,
                        unsigned char *encrypted_part,
                        unsigned long encrypted_part_len, unsigned char *part,
                        unsigned long *part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DecryptFinal(ck_session_handle_t session, unsigned char *last_part,
                       unsigned long *last_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DigestInit(ck_session_handle_t session,
                     struct ck_mechanism *mechanism)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_Digest(ck_session_handle_t session, unsigned char *data,
                 unsigned long data_len, unsigned char *digest,
                 unsigned long *digest_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DigestUpdate(ck_session_handle_t session, unsigned char *part,
                       unsigned long part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DigestKey(ck_session_handle_t session, ck_object_handle_t key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DigestFinal(ck_session_handle_t session, unsigned char *digest,
                      unsigned long *digest_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SignUpdate(ck_session_handle_t session, unsigned char *part,
                     unsigned long part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SignFinal(ck_session_handle_t session, unsigned char *signature,
                    unsigned long *signature_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SignRecoverInit(ck_session_handle_t session,
                          struct ck_mechanism *mechanism,
                          ck_object_handle_t key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SignRecover(ck_session_handle_t session, unsigned char *data,
                      unsigned long data_len, unsigned char *signature,
                      unsigned long *signature_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_VerifyUpdate(ck_session_handle_t session, unsigned char *part,
                       unsigned long part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_VerifyFinal(ck_session_handle_t session, unsigned char *signature,
                      unsigned long signature_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_VerifyRecoverInit(ck_session_handle_t session,
                            struct ck_mechanism *mechanism,
                            ck_object_handle_t key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_VerifyRecover(ck_session_handle_t session, unsigned char *signature,
                        unsigned long signature_len, unsigned char *data,
                        unsigned long *data_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DigestEncryptUpdate(ck_session_handle_t session, unsigned char *part,
                              unsigned long part_len,
                              unsigned char *encrypted_part,
                              unsigned long *encrypted_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DecryptDigestUpdate(ck_session_handle_t session,
                              unsigned char *encrypted_part,
                              unsigned long encrypted_part_len,
                              unsigned char *part, unsigned long *part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SignEncryptUpdate(ck_session_handle_t session, unsigned char *part,
                            unsigned long part_len,
                            unsigned char *encrypted_part,
                            unsigned long *encrypted_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DecryptVerifyUpdate(ck_session_handle_t session,
                              unsigned char *encrypted_part,
                              unsigned long encrypted_part_len,
                              unsigned char *part, unsigned long *part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_DeriveKey(ck_session_handle_t session, struct ck_mechanism *mechanism,
                    ck_object_handle_t base_key, struct ck_attribute *templ,
                    unsigned long attribute_count, ck_object_handle_t *key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

ck_rv_t C_SeedRandom(ck_session_handle_t session, unsigned char *seed,
                     unsigned long seed_len)
{
    return CKR_RANDOM_SEED_NOT_SUPPORTED;
}

ck_rv_t C_GetFunctionStatus(ck_session_handle_t session)
{
    return CKR_FUNCTION_NOT_PARALLEL;
}

ck_rv_t C_CancelFunction(ck_session_handle_t session)
{
    return CKR_FUNCTION_NOT_PARALLEL;
}

ck_rv_t C_WaitForSlotEvent(ck_flags_t flags, ck_slot_id_t *slot, void *reserved)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

static struct ck_function_list fwp11_functions = {
    .version = {2, 40},
    .C_Initialize = C_Initialize,
    .C_Finalize = C_Finalize,
    .C_GetInfo = C_GetInfo,
    .C_GetFunctionList = C_GetFunctionList,
    .C_GetSlotList = C_GetSlotList,
    .C_GetSlotInfo = C_GetSlotInfo,
    .C_GetTokenInfo = C_GetTokenInfo,
    .C_GetMechanismList = C_GetMechanismList,
    .C_GetMechanismInfo = C_GetMechanismInfo,
    .C_InitToken = C_InitToken,
    .C_InitPIN = C_InitPIN,
    .C_SetPIN = C_SetPIN,
    .C_OpenSession = C_OpenSession,
    .C_CloseSession = C_CloseSession,
    .C_CloseAllSessions = C_CloseAllSessions,
    .C_GetSessionInfo = C_GetSessionInfo,
    .C_GetOperationState = C_GetOperationState,
    .C_SetOperationState = C_SetOperationState,
    .C_Login = C_Login,
    .C_Logout = C_Logout,
    .C_CreateObject = C_CreateObject,
    .C_CopyObject = C_CopyObject,
    .C_DestroyObject = C_DestroyObject,
    .C_GetObjectSize = C_GetObjectSize,
    .C_GetAttributeValue = C_GetAttributeValue,
    .C_SetAttributeValue = C_SetAttributeValue,
    .C_FindObjectsInit = C_FindObjectsInit,
    .C_FindObjects = C_FindObjects,
    .C_FindObjectsFinal = C_FindObjectsFinal,
    .C_EncryptInit = C_EncryptInit,
    .C_Encrypt = C_Encrypt,
    .C_EncryptUpdate = C_EncryptUpdate,
    .C_EncryptFinal = C_EncryptFinal,
    .C_DecryptInit = C_DecryptInit,
    .C_Decrypt = C_Decrypt,
    .C_DecryptUpdate = C_DecryptUpdate,
    .C_DecryptFinal = C_DecryptFinal,
    .C_DigestInit = C_DigestInit,
    .C_Digest = C_Digest,
    .C_DigestUpdate = C_DigestUpdate,
    .C_DigestKey = C_DigestKey,
    .C_DigestFinal = C_DigestFinal,
    .C_SignInit = C_SignInit,
    .C_Sign = C_Sign,
    .C_SignUpdate = C_SignUpdate,
    .C_SignFinal = C_SignFinal,
    .C_SignRecoverInit = C_SignRecoverInit,
    .C_SignRecover = C_SignRecover,
    .C_VerifyInit = C_VerifyInit,
    .C_Verify = C_Verify,
    .C_VerifyUpdate = C_VerifyUpdate,
    .C_VerifyFinal = C_VerifyFinal,
    .C_VerifyRecoverInit = C_VerifyRecoverInit,
    .C_VerifyRecover = C_VerifyRecover,
    .C_DigestEncryptUpdate = C_DigestEncryptUpdate,
    .C_DecryptDigestUpdate = C_DecryptDigestUpdate,
    .C_SignEncryptUpdate = C_SignEncryptUpdate,
    .C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
    .C_GenerateKey = C_GenerateKey,
    .C_GenerateKeyPair = C_GenerateKeyPair,
    .C_WrapKey = C_WrapKey,
    .C_UnwrapKey = C_UnwrapKey,
    .C_DeriveKey = C_DeriveKey,
    .C_SeedRandom = C_SeedRandom,
    .C_GenerateRandom = C_GenerateRandom,
    .C_GetFunctionStatus = C_GetFunctionStatus,
    .C_CancelFunction = C_CancelFunction,
    .C_WaitForSlotEvent = C_WaitForSlotEvent,
};

__attribute__((visibility("default"))) ck_rv_t
C_GetFunctionList(struct ck_function_list **function_list)
{
    if (function_list == NULL)
        return CKR_ARGUMENTS_BAD;
    *function_list = &fwp11_functions;
    return CKR_OK;
}
