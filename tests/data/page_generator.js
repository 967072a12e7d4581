// Extracted verbatim from the SGLang cookbook's Kimi-Linear page (docs.sglang.io, component
// KimiLinearDeployment): the option groups, generateCommand and getInitialState. Test fixture only:
// tests/test_selector.py runs it with node and compares its output to kimi_cookbook.selector.
  const options = {
    hardware: {
      name: 'hardware',
      title: 'Hardware Platform',
      items: [{
        id: 'mi300x',
        label: 'MI300x',
        default: false
      }, {
        id: 'mi325x',
        label: 'MI325x',
        default: false
      }, {
        id: 'mi355x',
        label: 'MI355x',
        default: false
      }]
    },
    modelname: {
      name: 'modelname',
      title: 'Model Name',
      items: [{
        id: 'instruct',
        label: 'Kimi-Linear-48B-A3B-Instruct',
        default: true
      }]
    },
    strategy: {
      name: 'strategy',
      title: 'Deployment Strategy',
      type: 'checkbox',
      items: [{
        id: 'tp',
        label: 'TP',
        default: true,
        required: true
      }]
    },
    reasoning: {
      name: 'reasoning',
      title: 'Reasoning Parser',
      items: [{
        id: 'disabled',
        label: 'Disabled',
        default: true
      }, {
        id: 'enabled',
        label: 'Enabled',
        default: false
      }]
    },
    toolcall: {
      name: 'toolcall',
      title: 'Tool Call Parser',
      items: [{
        id: 'disabled',
        label: 'Disabled',
        default: true
      }, {
        id: 'enabled',
        label: 'Enabled',
        default: false
      }]
    }
  };
  const generateCommand = values => {
    const {hardware, modelname, strategy, reasoning, toolcall} = values;
    if (modelname === 'instruct' && reasoning === 'enabled') {
      return `# Error: Kimi-Linear doesn't support reasoning parser\n# Please select "Disabled" for Reasoning Parser or choose Kimi-Linear-Thinking model`;
    }
    const modelMap = {
      'instruct': 'moonshotai/Kimi-Linear-48B-A3B-Instruct'
    };
    const modelName = modelMap[modelname];
    let cmd = 'python3 -m sglang.launch_server \\\n';
    if (hardware === 'mi300x' || hardware === 'mi325x' || hardware === 'mi355x') {
      cmd = 'SGLANG_ROCM_FUSED_DECODE_MLA=0 ' + cmd;
    }
    cmd += `  --model-path ${modelName}`;
    cmd += ` \\\n  --tp 4`;
    cmd += ` \\\n  --trust-remote-code`;
    if (toolcall === 'enabled') {
      cmd += ` \\\n  --tool-call-parser kimi_k2`;
    }
    if (reasoning === 'enabled') {
      cmd += ` \\\n  --reasoning-parser kimi_k2`;
    }
    return cmd;
  };
  const getInitialState = () => {
    const initialState = {};
    Object.entries(options).forEach(([key, option]) => {
      if (option.type === 'checkbox') {
        initialState[key] = (option.items || []).filter(item => item.default).map(item => item.id);
        return;
      }
      if (option.type === 'text') {
        initialState[key] = option.default || '';
        return;
      }
      let items = option.items || [];
      if (option.getDynamicItems) {
        const defaultValues = {};
        Object.entries(options).forEach(([innerKey, innerOption]) => {
          if (innerOption.type === 'checkbox') {
            defaultValues[innerKey] = (innerOption.items || []).filter(item => item.default).map(item => item.id);
          } else if (innerOption.type === 'text') {
            defaultValues[innerKey] = innerOption.default || '';
          } else if (innerOption.items && innerOption.items.length > 0) {
            const defaultItem = innerOption.items.find(item => item.default);
            defaultValues[innerKey] = defaultItem ? defaultItem.id : innerOption.items[0].id;
          }
        });
        items = option.getDynamicItems(defaultValues);
      }
      const defaultItem = items && items.find(item => item.default);
      initialState[key] = defaultItem ? defaultItem.id : items && items[0] ? items[0].id : '';
    });
    return initialState;
  };
module.exports = { options, generateCommand, getInitialState };
