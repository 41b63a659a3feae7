# Copyright (c) Canopy authors.
"""Loads libcanopy and declares the prototype of every C API function.

Where the library comes from, in order:

1. the ``CANOPY_LIBRARY`` environment variable (a path to ``libcanopy.so``);
2. a ``libcanopy.so`` (or ``libcanopy.dylib``) next to this package, or in
   the folder that holds it;
3. ``ctypes.util.find_library("canopy")`` (the system's library path, e.g.
   after ``cmake --install``).

The table below mirrors ``include/canopy/c.h`` one line per function; a
prototype that disagrees with the header would corrupt memory, so it is
kept in the header's order and checked by the tests (every name must
resolve). Handles are ``c_void_p``; every ``**`` out-parameter is a
``POINTER(c_void_p)``.
"""

import ctypes
import ctypes.util
import os

_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_S = ctypes.c_char_p
_SA = ctypes.POINTER(ctypes.c_char_p)
_I = ctypes.c_int
_PI = ctypes.POINTER(ctypes.c_int)
_U32 = ctypes.c_uint32
_U64 = ctypes.c_uint64
_PU64 = ctypes.POINTER(ctypes.c_uint64)
_I64 = ctypes.c_int64
_SZ = ctypes.c_size_t
_PSZ = ctypes.POINTER(ctypes.c_size_t)

#: ``int (*)(void* arg, uint64_t done, uint64_t total)``: non-zero goes on.
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64,
                               ctypes.c_uint64)
_PROGRESS = PROGRESS_FN

# name: (restype, argtypes), in the order of include/canopy/c.h.
SIGNATURES = {
    "canopy_free": (None, [_P]),
    "canopy_code_name": (_S, [_I]),
    "canopy_version": (_S, []),
    "canopy_storage_format_version": (_U32, []),
    "canopy_options_create": (_P, []),
    "canopy_options_destroy": (None, [_P]),
    "canopy_options_set_create_if_missing": (None, [_P, _I]),
    "canopy_options_set_error_if_exists": (None, [_P, _I]),
    "canopy_options_set_read_only": (None, [_P, _I]),
    "canopy_options_set_max_depth": (None, [_P, _U32]),
    "canopy_options_set_sync": (None, [_P, _I]),
    "canopy_options_set_block_cache_bytes": (None, [_P, _SZ]),
    "canopy_options_set_cursor_ttl_seconds": (None, [_P, _U32]),
    "canopy_options_set_max_open_cursors": (None, [_P, _SZ]),
    "canopy_options_set_log_retention_count": (None, [_P, _U64]),
    "canopy_options_set_log_retention_seconds": (None, [_P, _U64]),
    "canopy_options_set_etcd_endpoints": (None, [_P, _S]),
    "canopy_options_set_replication_prefix": (None, [_P, _S]),
    "canopy_options_set_checkpoint_dir": (None, [_P, _S]),
    "canopy_options_set_checkpoint_every": (None, [_P, _U64]),
    "canopy_db_open": (_I, [_P, _S, _PP, _PP]),
    "canopy_db_close": (_I, [_P, _PP]),
    "canopy_attributes_create": (_P, []),
    "canopy_attributes_destroy": (None, [_P]),
    "canopy_attributes_set": (_I, [_P, _S, _S, _PP]),
    "canopy_attributes_count": (_SZ, [_P]),
    "canopy_attributes_name": (_S, [_P, _SZ]),
    "canopy_attributes_value": (_S, [_P, _SZ]),
    "canopy_attributes_get": (_S, [_P, _S]),
    "canopy_account_spec_create": (_P, []),
    "canopy_account_spec_destroy": (None, [_P]),
    "canopy_account_spec_set_key": (_I, [_P, _S, _PP]),
    "canopy_account_spec_set_name": (_I, [_P, _S, _PP]),
    "canopy_account_spec_set_parent": (_I, [_P, _U64, _PP]),
    "canopy_account_spec_set_attributes": (_I, [_P, _P, _PP]),
    "canopy_account_spec_set_sub_account_management": (_I, [_P, _I, _PP]),
    "canopy_account_spec_set_sub_account_access": (_I, [_P, _I, _PP]),
    "canopy_account_create": (_I, [_P, _U64, _P, _PU64, _PP]),
    "canopy_account_get": (_I, [_P, _U64, _PP, _PP]),
    "canopy_account_find": (_I, [_P, _S, _PP, _PP]),
    "canopy_account_find_as": (_I, [_P, _U64, _S, _PP, _PP]),
    "canopy_account_patch_create": (_P, []),
    "canopy_account_patch_destroy": (None, [_P]),
    "canopy_account_patch_set_name": (_I, [_P, _S, _PP]),
    "canopy_account_patch_set_attributes": (_I, [_P, _P, _PP]),
    "canopy_account_patch_set_sub_account_management": (_I, [_P, _I, _PP]),
    "canopy_account_patch_set_sub_account_access": (_I, [_P, _I, _PP]),
    "canopy_account_update": (_I, [_P, _U64, _U64, _P, _PP]),
    "canopy_account_set_sub_account_management": (_I, [_P, _U64, _U64, _I, _PP]),
    "canopy_account_set_sub_account_access": (_I, [_P, _U64, _U64, _I, _PP]),
    "canopy_account_move": (_I, [_P, _U64, _U64, _U64, _PP]),
    "canopy_account_delete": (_I, [_P, _U64, _U64, _U64, _PP]),
    "canopy_account_delete_many": (_I, [_P, _U64, _PU64, _SZ, _U64, _PP]),
    "canopy_account_count_owned": (_I, [_P, _U64, _I, _PU64, _PU64, _PP]),
    "canopy_account_ancestors": (_I, [_P, _U64, _PP, _PP]),
    "canopy_account_descendants": (_I, [_P, _U64, _U32, _PP, _PP]),
    "canopy_account_descendants_as": (_I, [_P, _U64, _U64, _U32, _PP, _PP]),
    "canopy_account_roots": (_I, [_P, _PP, _PSZ, _PP]),
    "canopy_account_roots_as": (_I, [_P, _U64, _PP, _PSZ, _PP]),
    "canopy_account_destroy": (None, [_P]),
    "canopy_account_id": (_U64, [_P]),
    "canopy_account_key": (_S, [_P]),
    "canopy_account_name": (_S, [_P]),
    "canopy_account_parent": (_U64, [_P]),
    "canopy_account_depth": (_U32, [_P]),
    "canopy_account_created_us": (_I64, [_P]),
    "canopy_account_updated_us": (_I64, [_P]),
    "canopy_account_attributes": (_P, [_P]),
    "canopy_account_sub_account_management": (_I, [_P]),
    "canopy_account_sub_account_access": (_I, [_P]),
    "canopy_accounts_destroy": (None, [_P]),
    "canopy_accounts_count": (_SZ, [_P]),
    "canopy_accounts_at": (_P, [_P, _SZ]),
    "canopy_entity_spec_create": (_P, []),
    "canopy_entity_spec_destroy": (None, [_P]),
    "canopy_entity_spec_set_kind": (_I, [_P, _I, _PP]),
    "canopy_entity_spec_set_key": (_I, [_P, _S, _PP]),
    "canopy_entity_spec_set_unit_id": (_I, [_P, _S, _PP]),
    "canopy_entity_spec_set_name": (_I, [_P, _S, _PP]),
    "canopy_entity_spec_set_type": (_I, [_P, _S, _PP]),
    "canopy_entity_spec_set_owner": (_I, [_P, _U64, _PP]),
    "canopy_entity_spec_set_attributes": (_I, [_P, _P, _PP]),
    "canopy_entity_create": (_I, [_P, _U64, _P, _PU64, _PP]),
    "canopy_entity_get": (_I, [_P, _U64, _PP, _PP]),
    "canopy_entity_find": (_I, [_P, _I, _S, _PP, _PP]),
    "canopy_entity_find_as": (_I, [_P, _U64, _I, _S, _PP, _PP]),
    "canopy_entity_find_by_unit_id": (_I, [_P, _S, _PP, _PP]),
    "canopy_entity_find_by_unit_id_as": (_I, [_P, _U64, _S, _PP, _PP]),
    "canopy_entity_patch_create": (_P, []),
    "canopy_entity_patch_destroy": (None, [_P]),
    "canopy_entity_patch_set_name": (_I, [_P, _S, _PP]),
    "canopy_entity_patch_set_type": (_I, [_P, _S, _PP]),
    "canopy_entity_patch_set_unit_id": (_I, [_P, _S, _PP]),
    "canopy_entity_patch_set_attributes": (_I, [_P, _P, _PP]),
    "canopy_entity_update": (_I, [_P, _U64, _U64, _P, _PP]),
    "canopy_entity_delete": (_I, [_P, _U64, _U64, _PP]),
    "canopy_entity_reassign": (_I, [_P, _U64, _I, _I, _SA, _SZ, _U64, _PP, _PP]),
    "canopy_entity_destroy": (None, [_P]),
    "canopy_entity_id": (_U64, [_P]),
    "canopy_entity_kind": (_I, [_P]),
    "canopy_entity_key": (_S, [_P]),
    "canopy_entity_unit_id": (_S, [_P]),
    "canopy_entity_name": (_S, [_P]),
    "canopy_entity_type": (_S, [_P]),
    "canopy_entity_owner": (_U64, [_P]),
    "canopy_entity_created_us": (_I64, [_P]),
    "canopy_entity_updated_us": (_I64, [_P]),
    "canopy_entity_attributes": (_P, [_P]),
    "canopy_reassign_report_destroy": (None, [_P]),
    "canopy_reassign_report_count": (_SZ, [_P]),
    "canopy_reassign_report_total": (_SZ, [_P, _I]),
    "canopy_reassign_report_ref": (_S, [_P, _SZ]),
    "canopy_reassign_report_outcome": (_I, [_P, _SZ]),
    "canopy_reassign_report_entity": (_U64, [_P, _SZ]),
    "canopy_reassign_report_previous_owner": (_U64, [_P, _SZ]),
    "canopy_reassign_report_message": (_S, [_P, _SZ]),
    "canopy_user_spec_create": (_P, []),
    "canopy_user_spec_destroy": (None, [_P]),
    "canopy_user_spec_set_login": (_I, [_P, _S, _PP]),
    "canopy_user_spec_set_name": (_I, [_P, _S, _PP]),
    "canopy_user_spec_set_account": (_I, [_P, _U64, _PP]),
    "canopy_user_create": (_I, [_P, _U64, _P, _PU64, _PP]),
    "canopy_user_get": (_I, [_P, _U64, _PP, _PP]),
    "canopy_user_find": (_I, [_P, _S, _PP, _PP]),
    "canopy_user_find_as": (_I, [_P, _U64, _S, _PP, _PP]),
    "canopy_user_list": (_I, [_P, _U64, _PP, _PP]),
    "canopy_user_list_as": (_I, [_P, _U64, _U64, _PP, _PP]),
    "canopy_user_patch_create": (_P, []),
    "canopy_user_patch_destroy": (None, [_P]),
    "canopy_user_patch_set_name": (_I, [_P, _S, _PP]),
    "canopy_user_update": (_I, [_P, _U64, _U64, _P, _PP]),
    "canopy_user_set_disabled": (_I, [_P, _U64, _U64, _I, _PP]),
    "canopy_user_remove": (_I, [_P, _U64, _U64, _PP]),
    "canopy_user_destroy": (None, [_P]),
    "canopy_user_id": (_U64, [_P]),
    "canopy_user_login": (_S, [_P]),
    "canopy_user_name": (_S, [_P]),
    "canopy_user_account": (_U64, [_P]),
    "canopy_user_disabled": (_I, [_P]),
    "canopy_user_created_us": (_I64, [_P]),
    "canopy_user_updated_us": (_I64, [_P]),
    "canopy_users_destroy": (None, [_P]),
    "canopy_users_count": (_SZ, [_P]),
    "canopy_users_at": (_P, [_P, _SZ]),
    "canopy_membership_invite": (_I, [_P, _U64, _U64, _U64, _U64, _I, _PP]),
    "canopy_membership_change_role": (_I, [_P, _U64, _U64, _U64, _U64, _PP]),
    "canopy_membership_set_branch": (_I, [_P, _U64, _U64, _U64, _I, _PP]),
    "canopy_membership_remove": (_I, [_P, _U64, _U64, _U64, _PP]),
    "canopy_membership_list_by_user": (_I, [_P, _U64, _PP, _PP]),
    "canopy_membership_list_by_user_as": (_I, [_P, _U64, _U64, _PP, _PP]),
    "canopy_membership_list_by_account": (_I, [_P, _U64, _PP, _PP]),
    "canopy_membership_list_by_account_as": (_I, [_P, _U64, _U64, _PP, _PP]),
    "canopy_memberships_destroy": (None, [_P]),
    "canopy_memberships_count": (_SZ, [_P]),
    "canopy_memberships_user": (_U64, [_P, _SZ]),
    "canopy_memberships_account": (_U64, [_P, _SZ]),
    "canopy_memberships_role": (_U64, [_P, _SZ]),
    "canopy_memberships_branch": (_I, [_P, _SZ]),
    "canopy_memberships_created_us": (_I64, [_P, _SZ]),
    "canopy_role_create": (_I, [_P, _U64, _U64, _S, _SA, _SZ, _PU64, _PP]),
    "canopy_role_update": (_I, [_P, _U64, _U64, _SA, _SZ, _PP]),
    "canopy_role_delete": (_I, [_P, _U64, _U64, _PP]),
    "canopy_role_get": (_I, [_P, _U64, _PP, _PP]),
    "canopy_role_find": (_I, [_P, _U64, _S, _PP, _PP]),
    "canopy_role_list": (_I, [_P, _U64, _PP, _PP]),
    "canopy_role_destroy": (None, [_P]),
    "canopy_role_id": (_U64, [_P]),
    "canopy_role_tenant": (_U64, [_P]),
    "canopy_role_name": (_S, [_P]),
    "canopy_role_builtin": (_I, [_P]),
    "canopy_role_permission_count": (_SZ, [_P]),
    "canopy_role_permission": (_S, [_P, _SZ]),
    "canopy_roles_destroy": (None, [_P]),
    "canopy_roles_count": (_SZ, [_P]),
    "canopy_roles_at": (_P, [_P, _SZ]),
    "canopy_visible_request_create": (_P, [_U64, _I]),
    "canopy_visible_request_destroy": (None, [_P]),
    "canopy_visible_request_set_permission": (None, [_P, _S]),
    "canopy_visible_request_set_type": (None, [_P, _S]),
    "canopy_visible_request_set_name_prefix": (None, [_P, _S]),
    "canopy_visible_request_set_attribute": (None, [_P, _S, _S]),
    "canopy_visible_request_set_within": (None, [_P, _U64]),
    "canopy_visible_request_set_direct_only": (None, [_P, _I]),
    "canopy_visible_request_set_limit": (None, [_P, _SZ]),
    "canopy_visible_request_set_cursor": (None, [_P, _S]),
    "canopy_visible_request_set_min_revision": (None, [_P, _U64]),
    "canopy_visible_list": (_I, [_P, _P, _PP, _PP]),
    "canopy_visible_count": (_I, [_P, _P, _PU64, _PP]),
    "canopy_visible_page_destroy": (None, [_P]),
    "canopy_visible_page_count": (_SZ, [_P]),
    "canopy_visible_page_id": (_U64, [_P, _SZ]),
    "canopy_visible_page_key": (_S, [_P, _SZ]),
    "canopy_visible_page_name": (_S, [_P, _SZ]),
    "canopy_visible_page_type": (_S, [_P, _SZ]),
    "canopy_visible_page_owner": (_U64, [_P, _SZ]),
    "canopy_visible_page_next_cursor": (_S, [_P]),
    "canopy_visible_page_revision": (_U64, [_P]),
    "canopy_visible_iterator_create": (_I, [_P, _P, _PP, _PP]),
    "canopy_visible_iterator_destroy": (None, [_P]),
    "canopy_visible_iterator_valid": (_I, [_P]),
    "canopy_visible_iterator_next": (None, [_P]),
    "canopy_visible_iterator_id": (_U64, [_P]),
    "canopy_visible_iterator_key": (_S, [_P]),
    "canopy_visible_iterator_name": (_S, [_P]),
    "canopy_visible_iterator_type": (_S, [_P]),
    "canopy_visible_iterator_owner": (_U64, [_P]),
    "canopy_visible_iterator_status": (_I, [_P, _PP]),
    "canopy_access_check": (_I, [_P, _U64, _S, _S, _PI, _PP]),
    "canopy_access_explain": (_I, [_P, _U64, _S, _S, _PP, _PP]),
    "canopy_access_who_can": (_I, [_P, _S, _S, _SZ, _S, _PP, _PP]),
    "canopy_access_who_can_v2": (_I, [_P, _S, _S, _SZ, _S, _U64, _PP, _PP]),
    "canopy_access_who_can_as": (_I, [_P, _U64, _S, _S, _SZ, _S, _U64, _PP, _PP]),
    "canopy_explanation_destroy": (None, [_P]),
    "canopy_explanation_allowed": (_I, [_P]),
    "canopy_explanation_reason": (_S, [_P]),
    "canopy_explanation_entity": (_U64, [_P]),
    "canopy_explanation_owner": (_U64, [_P]),
    "canopy_explanation_via_account": (_U64, [_P]),
    "canopy_explanation_via_role": (_U64, [_P]),
    "canopy_explanation_via_role_name": (_S, [_P]),
    "canopy_explanation_via_branch": (_I, [_P]),
    "canopy_explanation_path_count": (_SZ, [_P]),
    "canopy_explanation_path": (_S, [_P, _SZ]),
    "canopy_who_can_page_destroy": (None, [_P]),
    "canopy_who_can_page_count": (_SZ, [_P]),
    "canopy_who_can_page_user": (_U64, [_P, _SZ]),
    "canopy_who_can_page_login": (_S, [_P, _SZ]),
    "canopy_who_can_page_via_account": (_U64, [_P, _SZ]),
    "canopy_who_can_page_role": (_U64, [_P, _SZ]),
    "canopy_who_can_page_branch": (_I, [_P, _SZ]),
    "canopy_who_can_page_next_cursor": (_S, [_P]),
    "canopy_who_can_page_revision": (_U64, [_P]),
    "canopy_account_table": (_I, [_P, _U64, _U64, _I, _I, _SZ, _S, _PP, _PP]),
    "canopy_account_table_v2": (_I, [_P, _U64, _U64, _I, _I, _SZ, _S, _U64, _PP, _PP]),
    "canopy_table_page_destroy": (None, [_P]),
    "canopy_table_page_count": (_SZ, [_P]),
    "canopy_table_page_total": (_U64, [_P]),
    "canopy_table_page_next_cursor": (_S, [_P]),
    "canopy_table_page_revision": (_U64, [_P]),
    "canopy_table_page_id": (_U64, [_P, _SZ]),
    "canopy_table_page_parent": (_U64, [_P, _SZ]),
    "canopy_table_page_key": (_S, [_P, _SZ]),
    "canopy_table_page_name": (_S, [_P, _SZ]),
    "canopy_table_page_depth": (_U32, [_P, _SZ]),
    "canopy_table_page_path_count": (_SZ, [_P, _SZ]),
    "canopy_table_page_path": (_S, [_P, _SZ, _SZ]),
    "canopy_table_page_users": (_U64, [_P, _SZ]),
    "canopy_table_page_sub_accounts": (_U64, [_P, _SZ]),
    "canopy_table_page_devices_direct": (_U64, [_P, _SZ]),
    "canopy_table_page_devices_subtree": (_U64, [_P, _SZ]),
    "canopy_table_page_created_us": (_I64, [_P, _SZ]),
    "canopy_account_summarize": (_I, [_P, _U64, _PP, _PP]),
    "canopy_account_summarize_as": (_I, [_P, _U64, _U64, _PP, _PP]),
    "canopy_summary_destroy": (None, [_P]),
    "canopy_summary_account": (_P, [_P]),
    "canopy_summary_path_count": (_SZ, [_P]),
    "canopy_summary_path": (_S, [_P, _SZ]),
    "canopy_summary_users": (_U64, [_P]),
    "canopy_summary_sub_accounts": (_U64, [_P]),
    "canopy_summary_devices_direct": (_U64, [_P]),
    "canopy_summary_devices_subtree": (_U64, [_P]),
    "canopy_account_graph_json": (_I, [_P, _U64, _U64, _U32, _PP, _PSZ, _PP]),
    "canopy_account_graph_dot": (_I, [_P, _U64, _U64, _U32, _PP, _PSZ, _PP]),
    "canopy_db_import": (_I, [_P, _U64, _S, _PROGRESS, _P, _PP, _PP]),
    "canopy_db_export": (_I, [_P, _S, _PROGRESS, _P, _PP, _PP]),
    "canopy_import_report_destroy": (None, [_P]),
    "canopy_import_report_lines": (_U64, [_P]),
    "canopy_import_report_accounts": (_U64, [_P]),
    "canopy_import_report_roles": (_U64, [_P]),
    "canopy_import_report_users": (_U64, [_P]),
    "canopy_import_report_memberships": (_U64, [_P]),
    "canopy_import_report_entities": (_U64, [_P]),
    "canopy_db_check_integrity": (_I, [_P, _PROGRESS, _P, _PP, _PP]),
    "canopy_strings_destroy": (None, [_P]),
    "canopy_strings_count": (_SZ, [_P]),
    "canopy_strings_at": (_S, [_P, _SZ]),
    "canopy_db_revision": (_U64, [_P]),
    "canopy_db_last_committed_revision": (_U64, [_P]),
    "canopy_db_log_id": (_I, [_P, _PP, _PP]),
    "canopy_db_checkpoint": (_I, [_P, _S, _PU64, _PP]),
    "canopy_db_replica_status": (_I, [_P, _PP, _PP]),
    "canopy_db_sync_with_log": (_I, [_P, _U32, _PU64, _PP]),
    "canopy_changes_read": (_I, [_P, _U64, _U64, _SZ, _U64, _SA, _SZ, _I, _U64, _PP, _PP]),
    "canopy_changes_wait": (_I, [_P, _U64, _U32, _PU64, _PP]),
    "canopy_changes_destroy": (None, [_P]),
    "canopy_changes_count": (_SZ, [_P]),
    "canopy_changes_next": (_U64, [_P]),
    "canopy_changes_revision": (_U64, [_P]),
    "canopy_changes_entry_revision": (_U64, [_P, _SZ]),
    "canopy_changes_entry_time_us": (_I64, [_P, _SZ]),
    "canopy_changes_entry_actor": (_S, [_P, _SZ]),
    "canopy_changes_entry_operation": (_S, [_P, _SZ]),
    "canopy_changes_entry_arguments": (_S, [_P, _SZ]),
    "canopy_changes_record_count": (_SZ, [_P, _SZ]),
    "canopy_changes_record_type": (_S, [_P, _SZ, _SZ]),
    "canopy_changes_record_action": (_S, [_P, _SZ, _SZ]),
    "canopy_changes_record_id": (_S, [_P, _SZ, _SZ]),
    "canopy_changes_record_before": (_S, [_P, _SZ, _SZ]),
    "canopy_changes_record_after": (_S, [_P, _SZ, _SZ]),
    "canopy_log_entries_read": (_I, [_P, _U64, _SZ, _PP, _PP]),
    "canopy_log_entries_destroy": (None, [_P]),
    "canopy_log_entries_count": (_SZ, [_P]),
    "canopy_log_entries_data": (_P, [_P, _SZ]),
    "canopy_log_entries_size": (_SZ, [_P, _SZ]),
    "canopy_changes_apply": (_I, [_P, _PP, _PSZ, _SZ, _PP, _PP]),
    "canopy_apply_report_destroy": (None, [_P]),
    "canopy_apply_report_applied": (_U64, [_P]),
    "canopy_apply_report_skipped": (_U64, [_P]),
    "canopy_apply_report_revision": (_U64, [_P]),
}

_NAMES = ("libcanopy.so", "libcanopy.dylib")


def _candidates():
    """Yields the places to look for libcanopy, in order."""
    env = os.environ.get("CANOPY_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.dirname(here)):
        for name in _NAMES:
            path = os.path.join(folder, name)
            if os.path.exists(path):
                yield path
    found = ctypes.util.find_library("canopy")
    if found:
        yield found


def load():
    """Loads libcanopy and declares every prototype; returns the CDLL.

    Raises ImportError naming what was tried when no library loads or when
    it lacks a function this package needs (an older libcanopy).
    """
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        missing = [name for name in SIGNATURES if not hasattr(lib, name)]
        if missing:
            raise ImportError("libcanopy at %s lacks %s; it is older than this "
                              "package" % (path, ", ".join(missing[:5])))
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib
    raise ImportError(
        "cannot load libcanopy: set CANOPY_LIBRARY to the path of libcanopy.so, "
        "put it next to the canopy package, or install it where the loader "
        "looks" + ("; tried: " + "; ".join(tried) if tried else ""))


lib = load()
