// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title SmartWallet
/// @notice A minimal ERC-1271 contract account for tests: a signature is valid when its owner EOA
/// signed the hash (65-byte r,s,v). It can also move tokens it holds, on the owner's order.
contract SmartWallet {
    bytes4 private constant ERC1271_MAGIC_VALUE = 0x1626ba7e;
    bytes4 private constant ERC1271_INVALID = 0xffffffff;

    address public owner;

    constructor(address walletOwner) {
        owner = walletOwner;
    }

    /// @notice Sets the owner of a clone (SmartWalletFactory calls it in the clone's creation).
    function initialize(address walletOwner) external {
        require(owner == address(0), "SmartWallet: already initialized");
        owner = walletOwner;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) {
            return ERC1271_INVALID;
        }
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) {
            v += 27;
        }
        address signer = ecrecover(hash, v, r, s);
        return signer != address(0) && signer == owner ? ERC1271_MAGIC_VALUE : ERC1271_INVALID;
    }

    function execute(address target, bytes calldata data) external returns (bytes memory) {
        require(msg.sender == owner, "SmartWallet: caller is not the owner");
        (bool ok, bytes memory result) = target.call(data);
        require(ok, "SmartWallet: call failed");
        return result;
    }
}

/// @title SmartWalletFactory
/// @notice Deploys SmartWallets as EIP-1167 clones at CREATE2 addresses known before deployment (the
/// salt binds the owner), so a wallet can be paid and can sign ERC-6492-wrapped payments before it
/// exists. Idempotent like ERC-4337 factories: asking again for a deployed wallet returns it.
contract SmartWalletFactory {
    event WalletCreated(address indexed wallet, address indexed owner, uint256 salt);

    address public immutable implementation;

    constructor() {
        implementation = address(new SmartWallet(address(this)));
    }

    function createAccount(address walletOwner, uint256 salt) external returns (address wallet) {
        wallet = getAddress(walletOwner, salt);
        if (wallet.code.length > 0) {
            return wallet;
        }
        bytes memory code = _cloneCode();
        bytes32 create2Salt = _salt(walletOwner, salt);
        address created;
        assembly {
            created := create2(0, add(code, 0x20), mload(code), create2Salt)
        }
        require(created == wallet, "SmartWalletFactory: deployment failed");
        SmartWallet(created).initialize(walletOwner);
        emit WalletCreated(wallet, walletOwner, salt);
    }

    function getAddress(address walletOwner, uint256 salt) public view returns (address) {
        bytes32 digest = keccak256(
            abi.encodePacked(bytes1(0xff), address(this), _salt(walletOwner, salt), keccak256(_cloneCode()))
        );
        return address(uint160(uint256(digest)));
    }

    function _salt(address walletOwner, uint256 salt) private pure returns (bytes32) {
        return keccak256(abi.encode(walletOwner, salt));
    }

    /// The EIP-1167 minimal proxy's creation code, delegating to `implementation`.
    function _cloneCode() private view returns (bytes memory) {
        return abi.encodePacked(
            hex"3d602d80600a3d3981f3363d3d373d3d3d363d73", implementation, hex"5af43d82803e903d91602b57fd5bf3"
        );
    }
}
